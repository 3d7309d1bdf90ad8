"""The HTTP API for SMS gateways: the app, the outbox hand-out, incoming SMS as reports (CHT's SMS
parser), the reminder API, gateway users. Imports: core to jobs.
"""
