function (doc) {
  // CHT medic/reports_by_form_and_parent, for the reminders' `mute_after_form_for`
  // (sentinel/reminders.py): reports by form and by the place they came from.
  //   key    [form, the report contact's parent _id]
  //   value  reported_date as epoch ms (a date string is parsed; a report without a usable date is
  //          left out, because the _stats reduce takes numbers only and one bad value would break
  //          every query of the view on CouchDB)
  //   reduce _stats: query with group=true and use value.max, the newest report
  if (doc.type !== 'data_record' || !doc.form) {
    return;
  }
  var parentId = doc.contact && doc.contact.parent && doc.contact.parent._id;
  if (!parentId) {
    return;
  }
  var reported = typeof doc.reported_date === 'string' ? Date.parse(doc.reported_date) : doc.reported_date;
  if (typeof reported !== 'number' || !isFinite(reported)) {
    return;
  }
  emit([doc.form, parentId], reported);
}
