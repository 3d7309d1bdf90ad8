function (doc) {
  // Contacts by each ancestor of their stored parent chain, for muting (sentinel/muting.py): every
  // descendant of a place in one paged query, like CHT's replication/contacts_by_depth [ancestor id]
  // but keyed [ancestor _id, _id] so that a page starts right after the last one on any server
  // (PouchDB Server ignores startkey_docid). The contact itself is not emitted.
  //   key   [ancestor _id, contact _id]
  //   value depth (1: the parent, 2: the grandparent, ...)
  var hardcoded = ['district_hospital', 'health_center', 'clinic', 'person'];  // as sentinel/docs.py
  if (doc.type !== 'contact' && hardcoded.indexOf(doc.type) === -1) {
    return;
  }
  var seen = {};
  var parent = doc.parent;
  var depth = 1;
  while (parent && typeof parent === 'object' && depth <= 50) {
    var id = parent._id;
    if (typeof id !== 'string' || !id || seen[id] || id === doc._id) {
      break;
    }
    seen[id] = true;
    emit([id, doc._id], depth);
    parent = parent.parent;
    depth++;
  }
}
