function (doc) {
  // CHT shared-reports/reports_by_date, for multi_report_alerts (transitions/multi_report_alerts.py):
  // reports by the time they were reported, paged newest first.
  //   key    [reported_date as epoch ms, _id]: the _id makes every key unique, so a page starts
  //          right after the last row of the one before (startkey = that row's key, skip = 1)
  //          instead of skipping over every row already read
  //   value  the form, so reports of other forms are left out before any document is loaded
  // A date string is parsed; a report without a usable date is left out (CHT's numeric range
  // queries never find one either).
  if (doc.type !== 'data_record' || !doc.form) {
    return;
  }
  var reported = typeof doc.reported_date === 'string' ? Date.parse(doc.reported_date) : doc.reported_date;
  if (typeof reported !== 'number' || !isFinite(reported)) {
    return;
  }
  emit([reported, doc._id], doc.form);
}
