"""Loading FHIR CodeSystem, ValueSet and ConceptMap resources from JSON files and packages."""
