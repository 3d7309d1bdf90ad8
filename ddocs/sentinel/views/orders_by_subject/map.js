function (doc) {
  // Sentinel's planned form orders (sentinel/orders.py) by their subject: the patient's _id and its
  // patient_id (short code), so that re-planning one subject reads its orders in one request.
  if (doc.type !== 'order') {
    return;
  }
  if (doc.patient) {
    emit(String(doc.patient), null);
  }
  if (doc.patient_id && doc.patient_id !== doc.patient) {
    emit(String(doc.patient_id), null);
  }
}
