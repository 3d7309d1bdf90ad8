function (doc) {
  // Appointments by [status, appointment time (UTC ISO)], for the appointment_outcomes job: booked or
  // confirmed appointments whose time has passed become `missed`.
  if (doc.type !== 'data_record' || !doc.appointment || !doc.appointment.at) {
    return;
  }
  emit([String(doc.appointment_status || ''), String(doc.appointment.at)], null);
}
