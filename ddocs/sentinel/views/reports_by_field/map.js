function (doc) {
  // Reports by the value of each of their fields, for the `unique`, `uniqueWithin` and `exists`
  // validations (sentinel/validation.py). CHT's medic-client/reports_by_freetext `field:value` entries,
  // as [field, value], without the free-text words:
  //   key   [lower-cased field name, lower-cased String(value)]
  //   value {reported_date, has_errors}
  // for every top-level property AND every top-level `fields.*` entry of a report (the `form` too,
  // so ['form', 'registration']) whose value is a non-empty string or a non-zero number. Like CHT it
  // skips _id, _rev, type, refid, content and names ending in _date; values over 200 characters are
  // not indexed (never found).
  if (doc.type !== 'data_record' || !doc.form) {
    return;
  }
  var skip = ['_id', '_rev', 'type', 'refid', 'content'];
  var value = {
    reported_date: doc.reported_date,
    has_errors: !(!doc.errors || doc.errors.length === 0)
  };
  var seen = {};
  var emitField = function (name, fieldValue) {
    if (!name || !fieldValue || (typeof fieldValue !== 'string' && typeof fieldValue !== 'number')) {
      return;
    }
    name = name.toLowerCase();
    if (skip.indexOf(name) !== -1 || /_date$/.test(name)) {
      return;
    }
    var text = String(fieldValue).toLowerCase();
    if (text.length > 200 || seen[name + '\u0000' + text]) {
      return;
    }
    seen[name + '\u0000' + text] = true;
    emit([name, text], value);
  };
  var key;
  for (key in doc) {
    emitField(key, doc[key]);
  }
  if (doc.fields && typeof doc.fields === 'object') {
    for (key in doc.fields) {
      emitField(key, doc.fields[key]);
    }
  }
}
