"""HCPCS Level II (CMS): definition and importer of the CMS alpha-numeric (ANWEB) file."""
