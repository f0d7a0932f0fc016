"""ICD-10-PCS: the CMS order-file importer on our sample, its failures, and the code system as
the FHIR API serves it (header rows as abstract tables above their codes)."""

from __future__ import annotations

import zipfile

import pytest

from codesets import (  # noqa: F401 (the *_fixture names: fixtures)
    PCS,
    PCS_FILE,
    codeset_client_fixture,
    codeset_db_fixture,
    copy_of,
    dump,
    edit_line,
)
from codesystems.icd10pcs import loader
from conftest import LOOKUP, VALIDATE, designations, param_dict, properties
from terminology.errors import ImportFailed
from terminology.store import Store


def test_order_file_rows_become_codes_below_their_tables():
    parsed = loader.read_order_file(PCS_FILE)
    assert parsed.version == "2026" and parsed.effective_date == "2025-10-01"
    assert len(parsed.concepts) == 17
    code = parsed.concept("0DTJ4ZZ")
    assert code.display == "Resection of Appendix, Percutaneous Endoscopic Approach"
    assert [d.value for d in code.designations] == ["Resection of Appendix, Perc Endo Approach"]
    assert ("billable", True) in {(p.code, p.value) for p in code.properties}
    header = parsed.concept("0DT")
    assert {(p.code, p.value) for p in header.properties} == {("billable", False),
                                                             ("notSelectable", True)}
    assert header.designations == ()  # the short description is the long one
    assert ("0DT", "0DTJ4ZZ") in parsed.links and ("10D", "10D00Z1") in parsed.links
    assert len(parsed.links) == 11  # every code, none of the six headers


def test_bundled_sample_parses():
    parsed = loader.read_order_file(loader.SAMPLE_FILE, sample=True)
    assert parsed.resource["experimental"] is True
    assert "SAMPLE" in parsed.resource["description"]
    assert {c.code for c in parsed.concepts} >= {"0SR9019", "027", "02703ZZ"}


@pytest.mark.parametrize(
    "number, text, message",
    [
        (3, "00003 0016071 2 Bypass Cereb Vent        Bypass Cerebral Ventricle", "flag"),
        (3, "00003 00-6071 1 Bypass Cereb Vent        Bypass Cerebral Ventricle", "not an"),
        (6, "00006 02703ZZ 1 Dilation                 Dilation again", "listed twice"),
        (4, "0002703ZZ 1 Dilation of Coronary Artery", "not a row"),
        (2, "00002 0016070 1" + " " * 20, "no description"),
    ],
)
def test_broken_row_names_file_and_line(tmp_path, codeset_db, number, text, message):
    path = copy_of(PCS_FILE, tmp_path / "pcs")
    edit_line(path, number, text)
    before = dump(codeset_db)
    with pytest.raises(ImportFailed) as failure:
        loader.import_order_file(Store(codeset_db), path)
    assert f"{path.name} line {number}" in str(failure.value)
    assert message in str(failure.value)
    assert dump(codeset_db) == before


def test_a_folder_or_zip_gives_its_order_file_and_names_the_others(tmp_path):
    """The CMS zip holds the order file, its addenda and the code list; the order file is read."""
    parsed = loader.read_source(PCS_FILE.parent)
    assert parsed.files == [PCS_FILE.name] and len(parsed.concepts) == 17
    assert parsed.read == [("icd10pcs_order_2026.txt: order file, 17 rows (11 valid codes, 6 "
                           "headers), utf-8")]
    assert sorted(parsed.ignored) == [
        "icd10pcs_codes_2026.txt: not the order file (its first line is not an order-file row)",
        ("icd10pcs_order_addenda_2026.txt: addenda: the changes since the previous release, not "
        "the release itself")]
    archive = tmp_path / "2026-icd-10-pcs-order-file.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in PCS_FILE.parent.iterdir():
            zipped.write(file, file.name)
    assert len(loader.read_source(archive).concepts) == 17
    with pytest.raises(ImportFailed, match="no ICD-10-PCS order file there"):
        loader.read_source(tmp_path)  # only the zip itself


def test_version_comes_from_the_name_or_is_asked_for(tmp_path):
    path = copy_of(PCS_FILE, tmp_path / "pcs").rename(tmp_path / "pcs" / "orders.txt")
    with pytest.raises(ImportFailed, match="give the version"):
        loader.read_order_file(path)
    assert loader.read_order_file(path, "2025").effective_date == "2024-10-01"


def test_lookup_and_validate(codeset_client):
    body = codeset_client.get(LOOKUP, query_string={"system": PCS, "code": "0SR9019"}).fhir
    assert param_dict(body)["display"] == [
        "Replacement of Right Hip Joint with Metal Synthetic Substitute, Cemented, Open Approach"]
    assert properties(body)["parent"] == ["0SR"]
    assert [d["value"] for d in designations(body)] == [
        "Replace R Hip Jt w Metal Syn Sub, Cement, Open Approach"]
    table = codeset_client.get(LOOKUP, query_string={"system": PCS, "code": "0SR"}).fhir
    assert param_dict(table)["abstract"] == [True]
    assert properties(table)["child"] == ["0SR9019", "0SRB019"]
    ok = codeset_client.get(VALIDATE, query_string={"url": PCS, "code": "10D00Z1"}).fhir
    assert param_dict(ok)["result"] == [True]
    short = codeset_client.get(VALIDATE, query_string={
        "url": PCS, "code": "0DTJ0ZZ", "display": "Resection of Appendix, Open Approach"}).fhir
    assert param_dict(short)["result"] == [True]
    unknown = codeset_client.get(VALIDATE, query_string={"url": PCS, "code": "0DTJ9ZZ"}).fhir
    assert param_dict(unknown)["result"] == [False]
