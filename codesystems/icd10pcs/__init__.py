"""ICD-10-PCS (CMS inpatient procedure codes): definition and importer of the CMS order file."""
