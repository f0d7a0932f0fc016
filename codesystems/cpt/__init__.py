"""CPT (AMA Current Procedural Terminology): definition, importers and the expression-aware provider."""
