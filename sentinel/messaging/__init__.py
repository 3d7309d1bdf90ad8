"""Outgoing messages: the message library (`messages`), Mustache templates, recipients, SMS parts
and schedules (offsets, send days and times). Imports: core, rules.
"""
