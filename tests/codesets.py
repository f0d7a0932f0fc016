"""Helpers for the tests of the ICD-10-CM, ICD-10-PCS and HCPCS importers and of text search:
our own samples in tests/data (in the real layouts), a store holding them next to the CPT
samples (the `codeset_db` and `codeset_client` fixtures, imported by the test modules), and
editing copies of the samples to break them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import server
from codesystems.hcpcs import loader as hcpcs_loader
from codesystems.icd10cm import loader as icd_loader
from codesystems.icd10pcs import loader as pcs_loader
from conftest import FhirClient, build_store, dump  # noqa: F401 (dump re-exported)
from terminology.store import Store


DATA = Path(__file__).parent / "data"
ICD_FOLDER = DATA / "icd10cm"
ICD_XML = ICD_FOLDER / "icd10cm-tabular-2026.xml"
ICD_ORDER = ICD_FOLDER / "icd10cm-order-2026.txt"
ICD_CODES = ICD_FOLDER / "icd10cm-codes-2026.txt"
ICD_INDEX = ICD_FOLDER / "icd10cm-index-2026.xml"  # the Alphabetic Index (our sample)
PCS_FILE = DATA / "icd10pcs" / "icd10pcs_order_2026.txt"
HCPCS_FILE = DATA / "hcpcs" / "HCPC2026_JAN_ANWEB.txt"
HCPCS_2019 = DATA / "hcpcs" / "HCPC2019_CONTR_ANWEB.txt"  # opens with a notice block, latin-1

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
HCPCS_HTTPS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def build_codeset_store(path: Path) -> Store:
    """The CPT samples (as conftest builds them) plus our ICD-10-CM, PCS and HCPCS samples."""
    store = build_store(path)
    icd_loader.import_tabular(store, ICD_FOLDER)
    pcs_loader.import_order_file(store, PCS_FILE)
    hcpcs_loader.import_anweb(store, HCPCS_FILE)
    return store


@pytest.fixture(scope="module", name="codeset_db")
def codeset_db_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of the module's own (its tests may import into it) with every sample."""
    path = tmp_path_factory.mktemp("codesets") / "tx.db"
    build_codeset_store(path)
    return path


@pytest.fixture(name="codeset_client")
def codeset_client_fixture(codeset_db: Path) -> FhirClient:
    return FhirClient(server.create_app({"DB": str(codeset_db)}).test_client())


def copy_of(source: Path, folder: Path) -> Path:
    """A copy of a sample file (and of its folder's other files) to break in a test."""
    folder.mkdir(parents=True, exist_ok=True)
    for sibling in source.parent.iterdir():
        shutil.copy(sibling, folder / sibling.name)
    return folder / source.name


def edit_line(path: Path, number: int, text: str | None = None, *, insert: bool = False) -> None:
    """Replace (or insert before, or with text None delete) line `number` of a file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if text is None:
        del lines[number - 1]
    elif insert:
        lines.insert(number - 1, text)
    else:
        lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
