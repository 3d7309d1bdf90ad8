function (doc) {
  if (doc.type === 'sentinel-error' && doc.next_attempt) {
    emit(doc.next_attempt, doc.doc_id);
  }
}
