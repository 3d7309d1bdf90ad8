"""The rule languages configurations are written in: CHT's pupil validations (values, parser,
functions, dates, regex, `validation`) and the sandboxed expressions (JavaScript in quickjs, JsonLogic).
Imports: core.
"""
