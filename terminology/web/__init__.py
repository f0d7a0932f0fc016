"""Flask blueprints: the FHIR REST API (api.py)."""
