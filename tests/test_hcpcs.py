"""HCPCS Level II: the CMS ANWEB importer on our samples (continuation lines, modifiers, CDT codes
without descriptors, terminated codes; the notice block and latin-1 text of the 2019 files), its
failures, the http:// and https:// spellings of the system, and the `txserver import` commands."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import server
from codesets import (  # noqa: F401 (the *_fixture names: fixtures)
    HCPCS,
    HCPCS_2019,
    HCPCS_FILE,
    HCPCS_HTTPS,
    ICD,
    ICD_FOLDER,
    PCS_FILE,
    codeset_client_fixture,
    codeset_db_fixture,
    copy_of,
    dump,
    edit_line,
)
from codesystems.hcpcs import definition, loader
from conftest import LOOKUP, VALIDATE, param_dict, properties
from terminology.errors import ImportFailed
from terminology.store import Store


def test_records_with_continuations_modifiers_and_details():
    parsed = loader.read_anweb(HCPCS_FILE)
    assert parsed.version == "2026-01" and parsed.effective_date == "2026-01-01"
    assert len(parsed.concepts) == 16
    strips = parsed.concept("A4253")  # its long description runs over two lines
    assert strips.display == ("Blood glucose test or reagent strips for home blood glucose "
                              "monitor, per 50 strips")
    assert [d.value for d in strips.designations] == ["Blood glucose/reagent strips"]
    props = {(p.code, p.value) for p in strips.properties}
    assert {("modifier", False), ("coverage", "C"), ("betos", "D1A"),
            ("add-date", "1991-01-01"), ("action", "N")} <= props
    modifier = parsed.concept("XE")
    assert modifier.display == ("Separate encounter, a service that is distinct because it "
                                "occurred during a separate encounter")
    assert ("modifier", True) in {(p.code, p.value) for p in modifier.properties}


def test_cdt_codes_keep_no_descriptor():
    parsed = loader.read_anweb(HCPCS_FILE)
    for code in ("D0120", "D2740"):
        concept = parsed.concept(code)
        assert concept.display == definition.CDT_NOTE
        assert concept.designations == ()
        assert ("cdt", True) in {(p.code, p.value) for p in concept.properties}
    assert not any("dental descriptor" in (c.display or "") for c in parsed.concepts)


def test_a_code_terminated_before_the_release_is_inactive():
    parsed = loader.read_anweb(HCPCS_FILE)
    assert parsed.concept("G2012").inactive
    assert ("termination-date", "2024-12-31") in {
        (p.code, p.value) for p in parsed.concept("G2012").properties}
    assert not parsed.concept("G0008").inactive


def test_the_notice_block_before_the_records_is_skipped_and_counted():
    """The 2019 file opens with `***Disclaimers`, tab-padded lines with latin-1 non-breaking
    spaces and copyright signs, then the records (CRLF)."""
    assert HCPCS_2019.read_bytes().startswith(b"***Disclaimers\t")
    assert b"\xa0\xa9\xa0" in HCPCS_2019.read_bytes()  # not UTF-8
    parsed = loader.read_anweb(HCPCS_2019)
    assert parsed.version == "2019" and parsed.effective_date == "2019-01-01"
    assert len(parsed.concepts) == 9
    assert parsed.concept("GA").display == ("Waiver of liability statement issued as required by "
                                            "payer policy, individual case")
    assert parsed.skipped[0] == ("lines 1-9 of HCPC2019_CONTR_ANWEB.txt, before the first "
                                 "record: the notice block '***Disclaimers'")
    assert parsed.read == [("HCPC2019_CONTR_ANWEB.txt: 6 codes and 3 modifiers (11 record lines, "
                           "2 of them continuations), cp1252")]


@pytest.mark.parametrize("encoding, reported", [("utf-8", "utf-8"), ("latin-1", "cp1252"),
                                                ("utf-8-sig", "utf-8")])
def test_text_in_utf8_or_latin1_reads_the_same(tmp_path, encoding, reported):
    text = _first_line("J9999", "Injection, sample for Sjögren’s syndrome, 1 mg".replace(
        "’", "'")).ljust(91) + "Inj Sjögren sample"
    path = tmp_path / "HCPC2026_JAN_ANWEB.txt"
    path.write_bytes((text + "\r\n").encode(encoding))
    parsed = loader.read_anweb(path)
    assert parsed.concept("J9999").display == "Injection, sample for Sjögren's syndrome, 1 mg"
    assert [d.value for d in parsed.concept("J9999").designations] == ["Inj Sjögren sample"]
    assert parsed.read[0].endswith(reported)


def test_a_record_shaped_line_in_the_notice_block_is_not_skipped(tmp_path, codeset_db):
    """Only text before the first record is preamble: a line with a code and a sequence number
    is a record, and a broken one names its line."""
    path = copy_of(HCPCS_2019, tmp_path / "hcpcs")
    broken = _first_line("A0428", "Ambulance", "5")
    blank_line_2 = b"\r\n\t\t\t\t\t\t\r\n"
    path.write_bytes(path.read_bytes().replace(blank_line_2, f"\r\n{broken}\r\n".encode(), 1))
    before = dump(codeset_db)
    with pytest.raises(ImportFailed, match=f"{path.name} line 2: not a record"):
        loader.import_anweb(Store(codeset_db), path)
    assert dump(codeset_db) == before


def test_a_line_after_the_records_that_is_not_one_names_its_line(tmp_path, codeset_db):
    path = copy_of(HCPCS_2019, tmp_path / "hcpcs")
    path.write_bytes(path.read_bytes() + "End of file – notice\r\n".encode("cp1252"))
    before = dump(codeset_db)
    with pytest.raises(ImportFailed, match=f"{path.name} line 21: not a record"):
        loader.import_anweb(Store(codeset_db), path)
    assert dump(codeset_db) == before


def test_the_cms_zip_gives_its_anweb_file(tmp_path):
    """CMS's quarterly zip: the ANWEB text file beside its spreadsheet and the record layout."""
    archive = tmp_path / "january-2026-alpha-numeric-hcpcs-file.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(HCPCS_FILE, "HCPC2026_JAN_ANWEB_v2.txt")
        zipped.writestr("HCPC2026_JAN_ANWEB_v2.xlsx", b"PK\x03\x04 not read")
        zipped.writestr("HCPC2026_recordlayout.txt", "  CMS RIF REPORT\n  NAME   LENGTH\n")
    parsed = loader.read_source(archive)
    assert parsed.version == "2026-01" and len(parsed.concepts) == 16
    assert parsed.files == ["HCPC2026_JAN_ANWEB_v2.txt"]
    assert [line.split(":")[0] for line in parsed.ignored] == [
        "HCPC2026_JAN_ANWEB_v2.xlsx", "HCPC2026_recordlayout.txt"]
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(ImportFailed, match="broken.zip: not a readable zip"):
        loader.read_source(tmp_path / "broken.zip")


def test_release_from_the_file_name():
    assert loader.version_of(Path("HCPC2026_APR_ANWEB_v2.txt"), None) == "2026-04"
    assert loader.version_of(Path("HCPC2026_JANUARY_ANWEB.txt"), None) == "2026-01"
    assert loader.version_of(Path("HCPC2019_CONTR_ANWEB.txt"), None) == "2019"  # no month
    assert loader.version_of(Path("HCPC2019_CONTR_ANWEB.txt"), "2019-01") == "2019-01"
    assert loader.version_of(Path("anything.txt"), "2025-10") == "2025-10"
    with pytest.raises(ImportFailed, match="give the version"):
        loader.version_of(Path("anything.txt"), None)
    with pytest.raises(ImportFailed, match="not a release"):
        loader.version_of(Path("anything.txt"), "Q1")


def _first_line(code: str, text: str, record_id: str = "3", sequence: str = "00100") -> str:
    return f"{code:<5}{sequence}{record_id}{text:<80}"


@pytest.mark.parametrize(
    "number, text, message",
    [
        (7, _first_line("A042", "Ambulance"), "not a HCPCS Level II code"),
        (7, _first_line("A0428", "Ambulance", "5"), "not a record"),
        (10, _first_line("A9999", "continued", "4", "00200"), "does not follow its first line"),
        (8, _first_line("A0428", "Ambulance again"), "listed twice"),
        (3, _first_line("  LTX", "Left", "7"), "not a modifier"),
        (7, _first_line("A0428", "Ambulance").ljust(268) + "20011301", "not a date"),
    ],
)
def test_broken_record_names_file_and_line(tmp_path, codeset_db, number, text, message):
    path = copy_of(HCPCS_FILE, tmp_path / "hcpcs")
    edit_line(path, number, text)
    before = dump(codeset_db)
    with pytest.raises(ImportFailed) as failure:
        loader.import_anweb(Store(codeset_db), path)
    assert f"{path.name} line {number}" in str(failure.value)
    assert message in str(failure.value)
    assert dump(codeset_db) == before


def test_http_and_https_name_the_same_code_system(codeset_client):
    for system in (HCPCS, HCPCS_HTTPS):
        body = codeset_client.get(LOOKUP, query_string={"system": system, "code": "J1100"}).fhir
        assert param_dict(body)["display"] == ["Injection, dexamethasone sodium phosphate, 1 mg"]
        assert properties(body)["modifier"] == [False]
        valid = codeset_client.get(VALIDATE, query_string={"url": system, "code": "LT"}).fhir
        assert param_dict(valid)["result"] == [True]
        posted = codeset_client.post_parameters(VALIDATE, {
            "resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": {
                "system": system, "code": "E0601",
                "display": "Continuous positive airway pressure (cpap) device"}}]}).fhir
        assert param_dict(posted)["result"] == [True]
    registry = codeset_client.raw.application.extensions["registry"]
    assert registry.knows(HCPCS_HTTPS)
    assert registry.versions(HCPCS_HTTPS) == registry.versions(HCPCS) == ["2026-01"]


def test_cdt_code_is_served_with_the_note(codeset_client):
    body = codeset_client.get(LOOKUP, query_string={"system": HCPCS, "code": "D0120"}).fhir
    assert param_dict(body)["display"] == [definition.CDT_NOTE]
    assert properties(body)["cdt"] == [True]


# -- the command line ------------------------------------------------------------------------


def test_import_commands(tmp_path):
    db = str(tmp_path / "tx.db")
    runner = CliRunner()
    result = runner.invoke(server.main, ["import", "hcpcs", str(HCPCS_FILE), "--db", db])
    assert result.exit_code == 0, result.output
    assert "HCPCS 2026-01: 16 concepts" in result.output
    result = runner.invoke(server.main, ["import", "icd10pcs", str(PCS_FILE), "--db", db])
    assert result.exit_code == 0 and "ICD-10-PCS 2026: 17 concepts" in result.output
    result = runner.invoke(server.main, ["import", "icd10cm", str(ICD_FOLDER), "--db", db])
    assert result.exit_code == 0 and "ICD-10-CM 2026: 47 concepts" in result.output
    urls = {info.url for info in Store(db).code_systems()}
    assert urls == {HCPCS, ICD, "http://www.cms.gov/Medicare/Coding/ICD10"}


def test_import_command_prints_what_it_read_and_skipped(tmp_path):
    db = str(tmp_path / "tx.db")
    result = CliRunner().invoke(server.main, ["import", "hcpcs", str(HCPCS_2019), "--version",
                                              "2019-01", "--db", db])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "HCPCS 2019-01: 9 concepts from HCPC2019_CONTR_ANWEB.txt" in lines
    assert "  read HCPC2019_CONTR_ANWEB.txt: 6 codes and 3 modifiers (11 record lines, 2 of them " \
           "continuations), cp1252" in lines
    assert "  designations: 8 Short description" in lines
    assert any(line.startswith("  skipped lines 1-9 of HCPC2019_CONTR_ANWEB.txt") for line in lines)
    assert Store(db).code_systems()[0].version == "2019-01"


def test_import_command_failure_changes_nothing(tmp_path):
    db = tmp_path / "tx.db"
    runner = CliRunner()
    assert runner.invoke(server.main, ["import", "hcpcs", str(HCPCS_FILE), "--db", str(db)]
                         ).exit_code == 0
    broken = copy_of(HCPCS_FILE, tmp_path / "broken")
    edit_line(broken, 7, _first_line("A042", "Ambulance"))
    before = dump(db)
    result = runner.invoke(server.main, ["import", "hcpcs", str(broken), "--db", str(db)])
    assert result.exit_code != 0
    assert "import failed, nothing changed" in result.output
    assert f"{broken.name} line 7" in result.output
    assert dump(db) == before
