"""The operators' panel at ``/admin`` (SQLAdmin): admins only, every change through the
services, so the state machine, events, timeline, mails, token revocation and the audit
record follow exactly as they do for the API."""
