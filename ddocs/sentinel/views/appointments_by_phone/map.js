function (doc) {
  // Appointments booked by Sentinel's appointment_reminders (transitions/appointment_reminders.py)
  // by [the patient's phone (E.164), appointment time (UTC ISO)]: a yes/no reply from a number is
  // matched to that number's nearest upcoming appointment; the same key twice is a double booking.
  //   value  the appointment's status
  if (doc.type !== 'data_record' || !doc.appointment || !doc.appointment.phone || !doc.appointment.at) {
    return;
  }
  emit([String(doc.appointment.phone), String(doc.appointment.at)], doc.appointment_status || null);
}
