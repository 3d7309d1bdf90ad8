function (doc) {
  // Reports by [FORM (upper-cased, as order jobs compare forms), _id], for the bulk re-plan of an
  // order job (sentinel/order_replan.py): every report of the job's trigger form, a page at a time,
  // each page starting after the last row's key. Reduce _count: how many there are (progress).
  if (doc.type !== 'data_record' || typeof doc.form !== 'string' || !doc.form) {
    return;
  }
  emit([doc.form.trim().toUpperCase(), doc._id], null);
}
