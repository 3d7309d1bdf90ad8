function (doc) {
  // CHT medic-client/reports_by_subject: reports by the ids of their patient or place, by reported_date
  if (doc.type === 'enrollment') {
    // Sentinel's milestone enrollments, so that muting a subject reaches their alerts too
    var ids = [doc.patient_uuid, doc.patient_id, doc.place_id];
    for (var e = 0; e < ids.length; e++) {
      if (ids[e]) {
        emit(String(ids[e]), doc.enrolled_on);
      }
    }
    return;
  }
  if (doc.type !== 'data_record' || !doc.form) {
    return;
  }
  var fields = doc.fields || {};
  var seen = {};
  var subjects = [
    fields.patient_id, fields.patient_uuid, doc.patient_id,
    fields.place_id, fields.place_uuid, doc.place_id, fields.case_id, doc.case_id
  ];
  for (var i = 0; i < subjects.length; i++) {
    var subject = subjects[i];
    if (subject && !seen[subject]) {
      seen[subject] = true;
      emit(String(subject), doc.reported_date);
    }
  }
}
