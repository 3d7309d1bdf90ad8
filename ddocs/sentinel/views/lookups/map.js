function (doc) {
  // The lookups Sentinel makes, in ONE view, for other tools (Sentinel itself keeps the same keys in
  // its own index, sentinel/lookups.py, so that it never waits for a view to be brought up to date):
  //   ['phone', phone]         contacts by phone number (CHT medic-client/contacts_by_phone)
  //   ['shortcode', code]      contacts by patient_id/place_id (CHT contacts_by_reference 'shortcode')
  //   ['external', RC_CODE]    contacts by rc_code, upper-cased (CHT contacts_by_reference 'external')
  //   ['code', code]           every patient_id/place_id/case_id in use, on any doc (CHT docs_by_shortcode)
  var hardcoded = ['district_hospital', 'health_center', 'clinic', 'person'];  // as sentinel/docs.py
  if (doc.type === 'contact' || hardcoded.indexOf(doc.type) !== -1) {
    if (doc.phone) {
      emit(['phone', String(doc.phone)], null);
    }
    if (doc.place_id) {
      emit(['shortcode', String(doc.place_id)], null);
    }
    if (doc.patient_id) {
      emit(['shortcode', String(doc.patient_id)], null);
    }
    if (doc.rc_code) {
      emit(['external', String(doc.rc_code).toUpperCase()], null);
    }
  }
  var codes = [doc.patient_id, doc.place_id, doc.case_id];
  for (var i = 0; i < codes.length; i++) {
    if (codes[i]) {
      emit(['code', String(codes[i])], null);
    }
  }
}
