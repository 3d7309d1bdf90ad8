function (doc) {
  // Contacts by their contact type, for the reminders job (sentinel/reminders.py), like CHT's
  // medic-client/contacts_by_type but keyed [type, _id]: the id in the key lets a page start right
  // after the last one on any server (PouchDB Server ignores startkey_docid).
  //   key   [contact type id, _id]   (`contact_type` for type "contact", else the hard-coded `type`)
  //   value null
  var hardcoded = ['district_hospital', 'health_center', 'clinic', 'person'];  // as sentinel/docs.py
  var type = doc.type === 'contact' ? doc.contact_type : doc.type;
  if ((doc.type === 'contact' || hardcoded.indexOf(doc.type) !== -1) && typeof type === 'string' && type) {
    emit([type, doc._id], null);
  }
}
