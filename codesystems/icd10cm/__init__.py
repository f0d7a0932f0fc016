"""ICD-10-CM (CDC/CMS diagnosis codes): definition and importer of the tabular XML."""
