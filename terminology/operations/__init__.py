"""One module per FHIR terminology operation, one public function each. No SQL, no Flask here."""
