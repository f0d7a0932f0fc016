"""The terminology engine: code systems, value sets and concept maps behind the FHIR operations.

Nothing in this package imports Flask, server.py or codesystems/ (see ARCHITECTURE.md).
"""
