"""The pure engines transitions and jobs call: registrations, muting, MOTECH milestones, form orders
(plans, registry, listing), appointments. Imports: core, rules, messaging.
"""
