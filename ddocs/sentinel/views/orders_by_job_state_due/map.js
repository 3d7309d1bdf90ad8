function (doc) {
  // Orders by [job, state, due, _id]: `sentinel orders list`, the order dispatcher (planned orders due
  // by now, ordered ones waiting for an answer) and cancelling a stopped job's planned orders.
  // `due` is stored as UTC ISO, so it sorts as a string; an order without one is emitted with ""
  // so that it sorts first and is looked at, never left blocking a page (cht-core#6582). The _id
  // makes every key unique: a page starts after the last row's key.
  if (doc.type !== 'order' || !doc.job) {
    return;
  }
  emit([String(doc.job), String(doc.state || ''), typeof doc.due === 'string' ? doc.due : '', doc._id], {
    patient: doc.patient || null,
    patient_id: doc.patient_id || null,
    trigger: doc.trigger || null,
    k: doc.k,
    test: !!doc.test
  });
}
