function (doc) {
  // CHT shared/docs_by_shortcode: every short code in use, on documents of any type
  if (doc.patient_id) {
    emit(String(doc.patient_id), null);
  }
  if (doc.place_id) {
    emit(String(doc.place_id), null);
  }
  if (doc.case_id) {
    emit(String(doc.case_id), null);
  }
}
