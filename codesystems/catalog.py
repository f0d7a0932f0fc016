"""The code sets this server knows by name, in the order the web page lists them: each one's
own declaration of how it reads on the page (its key, label, top level, notes, words)."""

from __future__ import annotations

from codesystems.cpt import definition as cpt
from codesystems.hcpcs import definition as hcpcs
from codesystems.icd10cm import definition as icd10cm
from codesystems.icd10pcs import definition as icd10pcs
from terminology.model import CodeSetPages

CODE_SETS: tuple[CodeSetPages, ...] = (cpt.PAGES, hcpcs.PAGES, icd10cm.PAGES, icd10pcs.PAGES)
