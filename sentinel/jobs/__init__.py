"""The scheduler and each scheduled job: due tasks, reminders, outbound push, user replacement,
order dispatch and re-plan, milestone defaults, appointment outcomes. Imports: core to programs.
"""
