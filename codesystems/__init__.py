"""One package per code set: its definition, importer and provider specialisations."""
