function (doc) {
  // CHT report-transitions/reports_by_form_year_{week,month}_parent_reported_date in one view:
  // [form, year, 'week' | 'month', week or month, parent place id, reported_date] for update_scheduled_reports
  if (doc.type !== 'data_record' || !doc.form || !doc.fields || !doc.fields.year) {
    return;
  }
  var parent = doc.contact && doc.contact.parent && doc.contact.parent._id;
  if (!parent) {
    return;
  }
  var week = doc.fields.week || doc.fields.week_number;
  var month = doc.fields.month || doc.fields.month_num;
  if (week) {
    emit([doc.form, doc.fields.year, 'week', week, parent, doc.reported_date], null);
  } else if (month) {
    emit([doc.form, doc.fields.year, 'month', month, parent, doc.reported_date], null);
  }
}
