"""BCP-47 language tags (`urn:ietf:bcp:47`), checked against the IANA language subtag registry."""
