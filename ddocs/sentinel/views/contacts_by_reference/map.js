function (doc) {
  // CHT medic-client/contacts_by_reference: ['shortcode', place_id|patient_id], ['external', RC_CODE]
  var hardcoded = ['district_hospital', 'health_center', 'clinic', 'person', 'national_office'];
  if (doc.type !== 'contact' && hardcoded.indexOf(doc.type) === -1) {
    return;
  }
  if (doc.place_id) {
    emit(['shortcode', String(doc.place_id)], doc.reported_date);
  }
  if (doc.patient_id) {
    emit(['shortcode', String(doc.patient_id)], doc.reported_date);
  }
  if (doc.rc_code) {
    // refids usually arrive by SMS: matched case-insensitively
    emit(['external', String(doc.rc_code).toUpperCase()], doc.reported_date);
  }
}
