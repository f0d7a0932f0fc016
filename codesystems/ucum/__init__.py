"""UCUM (`http://unitsofmeasure.org`): unit expressions checked by UCUM's grammar and table."""
