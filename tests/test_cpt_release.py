"""The CPT importer on the AMA release layout, one test per quirk of the real files.

The layout is the one the AMA's public data pipeline reads (GitHub AMADataLabs/Core,
datalabs/curate/cpt/descriptor.py and modifier.py): notice blocks, CRLF, UTF-8 or cp1252,
fixed-width MEDU/SHORTU, descriptor tables in subfolders, modifiers in MODUL.txt (Appendix A).
Every case goes through the real importer into a real SQLite store and is read back through
the app.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import (
    CPT,
    LOOKUP,
    VALIDATE,
    build_store,
    client_for,
    designations,
    dump,
    param_dict,
    properties,
)
from test_import import data_line, insert_line, read_lines, replace_line, write_lines

import server
from codesystems.cpt import loader
from terminology.errors import ImportFailed
from terminology.store import Store

CONSUMER = Path("Consumer Friendly Descriptors") / "ConsumerDescriptor.txt"
CLINICIAN = Path("Clinician Descriptors") / "ClinicianDescriptor.txt"


def copy_sample(tmp_path: Path, version: str = "2026") -> Path:
    folder = tmp_path / f"release-{version}"
    shutil.copytree(loader.sample_folder(version), folder)
    return folder


def imported(tmp_path: Path, folder: Path, version: str = "2026"):  # type: ignore[no-untyped-def]
    """(release, client) after importing `folder` into a fresh store."""
    path = tmp_path / f"{folder.name}.db"
    store = Store(path)
    store.create()
    release = loader.import_release(store, folder, version)
    return release, client_for(path)


def lookup(client, code: str, **query):  # type: ignore[no-untyped-def]
    response = client.get(LOOKUP, query_string={"system": CPT, "code": code, **query})
    assert response.status_code == 200, response.fhir
    return response.fhir


def uses(body) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[str]] = {}
    for d in designations(body):
        out.setdefault(d["use"]["code"], []).append(d["value"])
    return out


def validate(client, code: str) -> dict:  # type: ignore[no-untyped-def]
    response = client.get(VALIDATE, query_string={"url": CPT, "code": code})
    assert response.status_code == 200, response.fhir
    return param_dict(response.fhir)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A store of its own with both sample years, to show a failed import changes nothing."""
    path = tmp_path / "store" / "tx.db"
    build_store(path)
    return path


@pytest.fixture(scope="module")
def sample_release():  # type: ignore[no-untyped-def]
    return loader.read_release(loader.sample_folder("2026"), "2026")


# -- the sample is in the real layout -----------------------------------------------------


def test_sample_files_are_in_the_real_layout():
    folder = loader.sample_folder("2026")
    for name in ("LONGULT.txt", "LONGUT.txt", "MEDU.txt", "SHORTU.txt", "MODUL.txt",
                 str(CONSUMER), str(CLINICIAN)):
        data = (folder / name).read_bytes()
        assert data.count(b"\r\n") == data.count(b"\n") > 0, f"{name}: CRLF line ends"
    for name in ("LONGUT.txt", "MODUL.txt"):  # written as cp1252, as the AMA writes them
        with pytest.raises(UnicodeDecodeError):
            (folder / name).read_bytes().decode("utf-8")
    medu, _ = read_lines(folder / "MEDU.txt")
    rows = medu[data_line(folder / "MEDU.txt", 1) - 1:]
    assert {len(row) for row in rows} == {5 + 1 + 48}, "MEDU.txt is padded to 48 characters"
    assert not (folder / "ConsumerDescriptor.txt").exists()
    assert not (folder / "modifiers.csv").exists()


# -- notice block ---------------------------------------------------------------------------


def test_notice_block_is_not_data(tmp_path, sample_release):
    folder = copy_sample(tmp_path)
    lines, encoding = read_lines(folder / "LONGULT.txt")
    notice = ["A notice of our own, first paragraph,", "wrapped over two lines.", "",
              "1966 to 2026: dates and numbers in a notice are not codes.", "", "",
              "Third paragraph, after two blank lines.", ""]
    write_lines(folder / "LONGULT.txt", notice + lines, encoding)
    release, client = imported(tmp_path, folder)
    assert [c.code for c in release.concepts] == [c.code for c in sample_release.concepts]
    [longult] = [f for f in release.files if f.label == "LONGULT.txt"]
    assert longult.notice_lines == 4 + sum(1 for line in lines[:data_line(
        loader.sample_folder("2026") / "LONGULT.txt", 1) - 1] if line)
    assert longult.rows == 21
    assert client.get(LOOKUP, query_string={"system": CPT, "code": "1966"}).status_code == 404


def test_file_without_notice_is_read_too(tmp_path, sample_release):
    folder = copy_sample(tmp_path)
    path = folder / "SHORTU.txt"
    lines, encoding = read_lines(path)
    write_lines(path, lines[data_line(path, 1) - 1:], encoding)
    _, client = imported(tmp_path, folder)
    assert uses(lookup(client, "99202"))["short"] == ["NEW PT OFFICE VISIT SF MDM"]


def test_broken_first_data_line_is_named_not_swallowed_into_the_notice(tmp_path, store_path):
    folder = copy_sample(tmp_path)
    number = data_line(folder / "LONGULT.txt", 1)
    replace_line(folder / "LONGULT.txt", number, "00100 has lost its tab\tand its shape")
    insert_line(folder / "LONGULT.txt", number, "Stray text where the data starts")
    before = dump(store_path)
    with pytest.raises(ImportFailed, match=f"LONGULT.txt line {number}: 'Stray'"):
        loader.import_release(Store(store_path), folder, "2026")
    assert dump(store_path) == before


def test_notice_only_file_fails(tmp_path, store_path):
    folder = copy_sample(tmp_path)
    lines, encoding = read_lines(folder / "MEDU.txt")
    write_lines(folder / "MEDU.txt", lines[:data_line(folder / "MEDU.txt", 1) - 1], encoding)
    before = dump(store_path)
    with pytest.raises(ImportFailed, match="MEDU.txt: no data after its notice block"):
        loader.import_release(Store(store_path), folder, "2026")
    assert dump(store_path) == before


# -- line ends and encodings --------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\n", b"\r"])
def test_lf_or_cr_line_ends_read_the_same_as_crlf(tmp_path, ending):
    folder = copy_sample(tmp_path)
    for name in ("LONGULT.txt", "MEDU.txt", str(CLINICIAN)):
        path = folder / name
        path.write_bytes(path.read_bytes().replace(b"\r\n", ending))
    _, crlf = imported(tmp_path, copy_sample(tmp_path / "crlf"))
    _, other = imported(tmp_path, folder)
    for code in ("99202", "64636", "0001U"):
        assert lookup(other, code) == lookup(crlf, code)
    assert not any(v.endswith("\r") for vs in uses(lookup(crlf, "99202")).values() for v in vs)


def test_cp1252_and_utf8_texts_are_decoded(tmp_path):
    _, client = imported(tmp_path, copy_sample(tmp_path))
    by_use = uses(lookup(client, "0001U"))
    assert "–" in by_use["upper"][0]  # LONGUT.txt, cp1252 byte 0x96
    assert by_use["upper"][0] == by_use["display"][0].upper()  # LONGULT.txt, UTF-8
    assert any("≥30 minutes" in t for t in uses(lookup(client, "99203"))["clinician"])
    assert param_dict(lookup(client, "52"))["display"] == [
        "Service cut back or partly reduced at the clinician’s choice"]  # MODUL.txt, cp1252


def test_utf8_with_bom_is_read(tmp_path):
    folder = copy_sample(tmp_path)
    path = folder / CONSUMER
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    _, client = imported(tmp_path, folder)
    assert uses(lookup(client, "0001A"))["consumer"] == ["First shot of a COVID-19 vaccine"]


@pytest.mark.parametrize("name", ["LONGUT.txt", "MODUL.txt", str(CLINICIAN)])
def test_bytes_of_neither_encoding_name_file_and_line(tmp_path, store_path, name):
    folder = copy_sample(tmp_path)
    path = folder / name
    lines = path.read_bytes().split(b"\r\n")
    number = len(lines) - 3
    lines[number - 1] += b" \x81"  # undefined in cp1252, invalid in UTF-8
    path.write_bytes(b"\r\n".join(lines))
    before = dump(store_path)
    with pytest.raises(ImportFailed) as failure:
        loader.import_release(Store(store_path), folder, "2026")
    assert f"{Path(name).name} line {number}: byte 0x81" in str(failure.value)
    assert dump(store_path) == before


# -- fixed width ---------------------------------------------------------------------------


def test_fixed_width_padding_is_stripped(tmp_path):
    _, client = imported(tmp_path, copy_sample(tmp_path))
    by_use = uses(lookup(client, "99213"))
    assert by_use["med"] == ["EST PATIENT OFFICE VISIT, LOW MDM"]
    assert by_use["short"] == ["EST PT OFFICE VISIT LOW MDM"]


def test_fixed_width_text_keeps_its_inner_spaces(tmp_path):
    folder = copy_sample(tmp_path)
    path = folder / "MEDU.txt"
    number = data_line(path, 1)
    replace_line(path, number, "00100 " + f"{'ANES  TWO SPACES INSIDE':<48}")
    _, client = imported(tmp_path, folder)
    assert uses(lookup(client, "00100"))["med"] == ["ANES  TWO SPACES INSIDE"]


# -- subfolders ------------------------------------------------------------------------------


def test_consumer_and_clinician_files_are_read_from_their_subfolders(sample_release):
    labels = [f.label for f in sample_release.files]
    assert CONSUMER.as_posix() in labels and CLINICIAN.as_posix() in labels
    [c99202] = [c for c in sample_release.concepts if c.code == "99202"]
    kinds = [d.use.code for d in c99202.designations if d.use]
    assert kinds.count("consumer") == 1 and kinds.count("clinician") == 3


def test_descriptor_tables_at_the_top_level_are_read_too(tmp_path, sample_release):
    folder = copy_sample(tmp_path)
    for relative in (CONSUMER, CLINICIAN):
        (folder / relative).rename(folder / relative.name)
    release, _ = imported(tmp_path, folder)
    assert release.concepts == sample_release.concepts
    assert release.missing == []


def test_descriptor_table_with_a_notice_and_columns_in_another_order(tmp_path, sample_release):
    folder = copy_sample(tmp_path)
    path = folder / CONSUMER
    lines, encoding = read_lines(path)
    rows = [line.split("\t") for line in lines]
    reordered = ["\t".join([r[2], r[1], r[0]]) for r in rows]
    write_lines(path, ["Our own notice for the consumer file.", ""] + reordered, encoding)
    release, _ = imported(tmp_path, folder)
    assert release.concepts == sample_release.concepts


def test_descriptor_table_without_header_row_is_read_in_the_ama_column_order(
        tmp_path, sample_release):
    folder = copy_sample(tmp_path)
    lines, encoding = read_lines(folder / CLINICIAN)
    write_lines(folder / CLINICIAN, lines[1:], encoding)
    release, _ = imported(tmp_path, folder)
    assert release.concepts == sample_release.concepts


def test_header_without_the_descriptor_column_names_file_and_line(tmp_path, store_path):
    folder = copy_sample(tmp_path)
    replace_line(folder / CONSUMER, 1, "Concept Id\tCPT Code\tLay Text")
    before = dump(store_path)
    with pytest.raises(ImportFailed) as failure:
        loader.import_release(Store(store_path), folder, "2026")
    assert f"{CONSUMER.as_posix()} line 1: no 'Consumer Friendly Descriptor' column" in str(
        failure.value)
    assert dump(store_path) == before


def test_quoted_cells_of_a_spreadsheet_export_are_unquoted(tmp_path):
    folder = copy_sample(tmp_path)
    number = data_line(folder / CONSUMER, 4)  # the header row is line 1
    replace_line(folder / CONSUMER, number,
                 '1000003\t0001U\t"DNA test of the ""red cell"" types a person has"')
    _, client = imported(tmp_path, folder)
    assert uses(lookup(client, "0001U"))["consumer"] == [
        'DNA test of the "red cell" types a person has']


def test_missing_subfolder_file_is_reported(tmp_path):
    folder = copy_sample(tmp_path)
    shutil.rmtree(folder / CLINICIAN.parent)
    release, client = imported(tmp_path, folder)
    assert any("ClinicianDescriptor.txt" in m for m in release.missing)
    assert "clinician" not in uses(lookup(client, "99202"))
    result = CliRunner().invoke(server.main, [
        "import", "cpt", str(folder), "--version", "2026", "--db", str(tmp_path / "cli.db")])
    assert result.exit_code == 0, result.output
    assert "missing: Clinician Descriptors/ClinicianDescriptor.txt" in result.output


@pytest.mark.parametrize("name", ["LONGUT.txt", "MEDU.txt", "SHORTU.txt"])
def test_missing_descriptor_file_is_reported(tmp_path, name):
    folder = copy_sample(tmp_path)
    (folder / name).unlink()
    release, _ = imported(tmp_path, folder)
    assert [m for m in release.missing if m.startswith(name)]


def test_rows_for_codes_not_in_longult_are_counted_as_skipped(tmp_path):
    folder = copy_sample(tmp_path)
    path = folder / CONSUMER
    lines, encoding = read_lines(path)
    write_lines(path, lines + ["1999999\t99499\tA code this release does not have"], encoding)
    release, _ = imported(tmp_path, folder)
    [skipped] = release.skipped
    assert "1 rows of Consumer Friendly Descriptors/ConsumerDescriptor.txt" in skipped
    assert f"99499 (line {len(lines) + 1})" in skipped


# -- MODUL.txt ---------------------------------------------------------------------------------


def test_modifiers_come_from_modul_txt(tmp_path):
    _, client = imported(tmp_path, copy_sample(tmp_path))
    assert validate(client, "99213:25")["result"] == [True]
    assert validate(client, "00100:P1")["result"] == [True]
    assert validate(client, "1036F:1P")["result"] == [True]
    assert validate(client, "64635:59:LT")["result"] == [True]
    assert validate(client, "99213:P1")["result"] == [False]  # physical status: anesthesia only
    assert sorted(properties(lookup(client, "25"))["kind"]) == ["cat-1", "general"]
    assert properties(lookup(client, "P1"))["kind"] == ["physical-status"]
    assert properties(lookup(client, "1P"))["kind"] == ["cat-2"]
    assert properties(lookup(client, "F1"))["kind"] == ["hcpcs"]


def test_a_modifier_definition_runs_over_lines_until_a_blank_line(tmp_path):
    _, client = imported(tmp_path, copy_sample(tmp_path))
    assert param_dict(lookup(client, "78"))["display"] == [(
        "Unplanned return to the operating or procedure room by the same clinician for a "
        "related procedure during the postoperative period")]
    assert param_dict(lookup(client, "1P"))["display"][0].startswith(
        "Performance measure exclusion for medical reasons Reasons include:")


def test_a_second_definition_in_another_section_is_kept(tmp_path):
    _, client = imported(tmp_path, copy_sample(tmp_path))
    body = lookup(client, "59")
    assert param_dict(body)["display"][0].startswith("Procedure or service separate")
    assert any(v.startswith("Outpatient hospital:") for v in uses(body)["display"])


def test_prose_of_appendix_a_is_not_a_modifier(tmp_path):
    _, client = imported(tmp_path, copy_sample(tmp_path))
    for not_a_modifier in ("Ex", "Mo", "Re", "00"):
        response = client.get(LOOKUP, query_string={"system": CPT, "code": not_a_modifier})
        assert response.status_code == 404


def _modul_line(folder: Path, startswith: str) -> int:
    lines, _ = read_lines(folder / "MODUL.txt")
    return next(i for i, line in enumerate(lines, start=1) if line.startswith(startswith))


@pytest.mark.parametrize(
    "where, text, words",
    [
        ("52 ", "52", ["modifier 52 has no definition"]),
        ("Physical Status Modifier P1", "Physical Status Modifier P1:",
         ["modifier P1 has no definition"]),
        ("1P ", "1P", ["modifier 1P has no definition"]),
        ("63 ", "25 Listed twice in the general section", ["modifier 25 is listed twice"]),
        ("LT ", "F1 Listed twice among the Level II modifiers", ["modifier F1 is listed twice"]),
    ],
)
def test_broken_modul_line_names_file_and_line(tmp_path, store_path, where, text, words):
    folder = copy_sample(tmp_path)
    number = _modul_line(folder, where)
    lines, encoding = read_lines(folder / "MODUL.txt")
    lines[number - 1] = text
    if text.endswith(("52", "P1:", "1P")):  # a definition emptied: drop its continuation too
        while lines[number].strip():
            del lines[number]
    write_lines(folder / "MODUL.txt", lines, encoding)
    before = dump(store_path)
    with pytest.raises(ImportFailed) as failure:
        loader.import_release(Store(store_path), folder, "2026")
    assert f"MODUL.txt line {number}:" in str(failure.value)
    for word in words:
        assert word in str(failure.value)
    assert dump(store_path) == before


def test_modul_headings_are_matched_ignoring_case_spacing_and_trademark_signs(tmp_path):
    folder = copy_sample(tmp_path)
    for heading, variant in (("CPT Level I Modifiers", "CPT®  Level I Modifiers "),
                             ("Category II Modifiers", "CATEGORY II MODIFIERS")):
        replace_line(folder / "MODUL.txt", _modul_line(folder, heading), variant)
    _, client = imported(tmp_path, folder)
    assert sorted(properties(lookup(client, "25"))["kind"]) == ["cat-1", "general"]
    assert properties(lookup(client, "1P"))["kind"] == ["cat-2"]


def test_modul_without_appendix_a_fails(tmp_path, store_path):
    folder = copy_sample(tmp_path)
    number = _modul_line(folder, "Appendix A")
    replace_line(folder / "MODUL.txt", number, "Appendix B")
    before = dump(store_path)
    with pytest.raises(ImportFailed, match="MODUL.txt: no line 'Appendix A'"):
        loader.import_release(Store(store_path), folder, "2026")
    assert dump(store_path) == before


def test_missing_modul_txt_is_reported_and_expressions_then_fail(tmp_path):
    folder = copy_sample(tmp_path)
    (folder / "MODUL.txt").unlink()
    release, client = imported(tmp_path, folder)
    assert any(m.startswith("MODUL.txt") and "99213:25" in m for m in release.missing)
    assert validate(client, "99213:25")["result"] == [False]


# -- lists that not every release has ------------------------------------------------------


def test_missing_telemedicine_list_is_reported_not_claimed_false(tmp_path):
    folder = copy_sample(tmp_path)
    (folder / "TelemedicineCodes.txt").unlink()
    release, client = imported(tmp_path, folder)
    [note] = [m for m in release.missing if "telemedicine" in m]
    assert "unknown, not false" in note
    assert "telemedicine" in release.absent_properties
    assert any("missing: the Appendix P" in line for line in release.summary())
    for code in ("99202", "99252"):
        props = properties(lookup(client, code, property="telemedicine"))
        assert "telemedicine" not in props
    assert properties(lookup(client, "87593"))["orthopox"] == [True]  # the other list is there
    resource = client.get("/fhir/CodeSystem/cpt-2026").fhir
    assert "telemedicine" not in [p["code"] for p in resource["property"]]
    assert "telemedicine" not in [f["code"] for f in resource["filter"]]
    # modifier 95 needs the list: the answer says it cannot be checked, not that 99202 is not
    # a telemedicine code
    result = validate(client, "99202:95")
    assert result["result"] == [False]
    assert "cannot be checked" in result["message"][0]
    assert "imported without" in result["message"][0]
    assert validate(client, "99213:25")["result"] == [True]
    expand = client.post_parameters("/fhir/ValueSet/$expand", {
        "resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": {
            "resourceType": "ValueSet", "status": "active", "compose": {"include": [{
                "system": CPT, "filter": [
                    {"property": "telemedicine", "op": "=", "value": "true"}]}]}}}]})
    assert expand.status_code == 422
    assert "imported without the Appendix P" in expand.fhir["issue"][0]["details"]["text"]


def test_missing_orthopox_list_is_reported(tmp_path):
    folder = copy_sample(tmp_path)
    (folder / "OrthopoxvirusCodes.txt").unlink()
    release, client = imported(tmp_path, folder)
    assert any("orthopox" in m for m in release.missing)
    assert "orthopox" not in properties(lookup(client, "87593"))
    assert properties(lookup(client, "99202"))["telemedicine"] == [True]


def test_lists_are_found_in_a_subfolder(tmp_path, sample_release):
    folder = copy_sample(tmp_path)
    (folder / "Lists").mkdir()
    (folder / "TelemedicineCodes.txt").rename(folder / "Lists" / "TelemedicineCodes.txt")
    release, _ = imported(tmp_path, folder)
    assert release.concepts == sample_release.concepts
    assert "Lists/TelemedicineCodes.txt" in [f.label for f in release.files]


# -- the summary ---------------------------------------------------------------------------------


def test_cli_prints_a_summary_to_check_against_the_ama_counts(tmp_path):
    folder = copy_sample(tmp_path)
    (folder / "LONGULF.txt").write_text("a file this importer does not read\r\n")
    result = CliRunner().invoke(server.main, [
        "import", "cpt", str(folder), "--version", "2026", "--db", str(tmp_path / "cli.db")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "CPT 2026: 21 codes and 21 modifiers" in out
    assert "read LONGULT.txt: 21 rows" in out
    assert "read LONGUT.txt: 21 rows" in out and "cp1252" in out
    assert "read Clinician Descriptors/ClinicianDescriptor.txt: 24 rows" in out
    assert "read MODUL.txt: 21 rows" in out
    assert ("designations of codes: display 21, upper 21, med 21, short 21, consumer 21, "
            "clinician 24") in out
    assert "modifiers by kind: general 17" in out and "physical-status 1" in out
    assert "not read: 1 other files this importer does not use: LONGULF.txt" in out
    assert "missing:" not in out and "skipped:" not in out


# -- tx.fhir.org's modifiers.csv, beside or instead of MODUL.txt ------------------------------

MODIFIER_TABLE = (
    "Code,General,PhysicalStatus,LevelOne,LevelTwo,HCPCS,Definition\r\n"
    '25,1,,1,,,"Separate evaluation and management service on the day of a procedure"\r\n'
    "P1,,1,,,,A normal healthy patient\r\n"
    "1P,,,,1,,Performance measure exclusion for medical reasons\r\n"
    "LT,,,,,1,Left side of the body\r\n"
    "ZZ,,,,,1,A modifier only this table lists\r\n"
)


def test_modifiers_csv_alone_gives_the_modifiers(tmp_path):
    folder = copy_sample(tmp_path)
    (folder / "MODUL.txt").unlink()
    (folder / "modifiers.csv").write_text(MODIFIER_TABLE, encoding="utf-8", newline="")
    release, client = imported(tmp_path, folder)
    assert validate(client, "99213:25")["result"] == [True]
    assert validate(client, "00100:P1")["result"] == [True]
    assert properties(lookup(client, "P1"))["kind"] == ["physical-status"]
    assert any("modifiers.csv" in line and "5" in line for line in release.summary())


def test_modifiers_csv_beside_modul_txt_adds_its_kinds_and_codes(tmp_path):
    folder = copy_sample(tmp_path)
    (folder / "modifiers.csv").write_text(MODIFIER_TABLE, encoding="utf-8", newline="")
    _, client = imported(tmp_path, folder)
    assert param_dict(lookup(client, "ZZ"))["display"] == ["A modifier only this table lists"]
    # Appendix A's wording is kept where both list a modifier
    assert not param_dict(lookup(client, "25"))["display"][0].startswith("Separate evaluation")


def test_a_broken_modifiers_csv_names_its_line(tmp_path):
    folder = copy_sample(tmp_path)
    (folder / "modifiers.csv").write_text(MODIFIER_TABLE + "25x,1,,,,,Bad\r\n", encoding="utf-8")
    store = Store(tmp_path / "broken.db")
    store.create()
    with pytest.raises(ImportFailed, match=r"modifiers.csv line 7: '25x' is not a modifier code"):
        loader.import_release(store, folder, "2026")
