"""The FHIR edge: request parameters in (params.py), FHIR JSON out (render.py)."""
