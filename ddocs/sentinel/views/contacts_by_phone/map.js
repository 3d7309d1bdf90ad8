function (doc) {
  // CHT medic-client/contacts_by_phone: contacts by their phone number (as a string)
  var hardcoded = ['district_hospital', 'health_center', 'clinic', 'person'];
  if ((doc.type === 'contact' || hardcoded.indexOf(doc.type) !== -1) && doc.phone) {
    emit(String(doc.phone), null);
  }
}
