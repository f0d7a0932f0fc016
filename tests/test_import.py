"""The importers (AMA CPT folder, CMS add-on edits) and the `txserver` command line.

Each import is all-or-nothing: a broken source raises ImportFailed naming the file and the line,
and the store is left byte-for-byte as it was (compared with an SQL dump and with answers).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import server
from codesystems.cpt import addons, loader
from conftest import (
    CPT,
    LOOKUP,
    FhirClient,
    assert_valid_r4b,
    build_store,
    client_for,
    dump,
    param_dict,
    properties,
)
from terminology.errors import ImportFailed
from terminology.store import Store

PROBE_CODES = ("64636", "64634", "99252", "0042T", "0901T", "99202:25", "25")


# -- helpers ---------------------------------------------------------------------------------






def answers(path: Path) -> dict:
    """What the server says about a few codes in each year, and the code-system counts."""
    client = client_for(path)
    out: dict = {}
    for version in ("2025", "2026"):
        for code in PROBE_CODES:
            r = client.get(LOOKUP, query_string={"system": CPT, "code": code,
                                                 "version": version})
            out[(version, code)] = (r.status_code, r.fhir)
    bundle = client.get("/fhir/CodeSystem").fhir
    out["counts"] = sorted((e["resource"]["id"], e["resource"].get("count", -1))
                           for e in bundle.get("entry", []))
    out["map"] = client.get("/fhir/ConceptMap").fhir.get("entry")
    return out


def copy_sample(tmp_path: Path, version: str = "2026") -> Path:
    folder = tmp_path / f"cpt-{version}"
    shutil.copytree(loader.sample_folder(version), folder)
    return folder


def read_lines(path: Path) -> tuple[list[str], str]:
    """The CRLF lines of a release file and its encoding (UTF-8, else cp1252)."""
    data = path.read_bytes()
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = data.decode("cp1252"), "cp1252"
    return text.split("\r\n")[:-1], encoding


def write_lines(path: Path, lines: list[str], encoding: str) -> None:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))


def data_line(path: Path, k: int) -> int:
    """The number of the k-th line after the notice block, by the AMA's rule (the notice ends at
    the last blank line; a file without one has no notice, and a header row is line 1)."""
    lines, _ = read_lines(path)
    return (len(lines) - lines[::-1].index("") if "" in lines else 0) + k


def replace_line(path: Path, number: int, text: str) -> None:
    lines, encoding = read_lines(path)
    lines[number - 1] = text
    write_lines(path, lines, encoding)


def insert_line(path: Path, number: int, text: str) -> None:
    lines, encoding = read_lines(path)
    lines.insert(number - 1, text)
    write_lines(path, lines, encoding)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A store of its own, with both sample years and the CMS sample imported."""
    path = tmp_path / "store" / "tx.db"
    build_store(path)
    return path


# -- broken CPT folders ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["XYZ", "not a code at all", "99202", "99202\t", "9920X1\tsix characters", "99-02\tdash"],
)
def test_broken_longult_line_names_file_and_line(tmp_path, store_path, line):
    folder = copy_sample(tmp_path)
    number = data_line(folder / "LONGULT.txt", 5)
    insert_line(folder / "LONGULT.txt", number, line)
    before_dump, before = dump(store_path), answers(store_path)
    with pytest.raises(ImportFailed) as failure:
        loader.import_release(Store(store_path), folder, "2026")
    message = str(failure.value)
    assert "LONGULT.txt" in message
    assert f"line {number}:" in message
    assert dump(store_path) == before_dump
    assert answers(store_path) == before


@pytest.mark.parametrize(
    "name, k, text",
    [
        ("SHORTU.txt", 3, "BAD LINE"),
        ("MEDU.txt", 2, "0001A"),
        ("MEDU.txt", 2, "0001A" + " " * 40),  # fixed width, but no text in the padding
        ("LONGUT.txt", 4, "0901T"),  # the cp1252 file
        ("Clinician Descriptors/ClinicianDescriptor.txt", 4, "1000003\t0001U"),
        ("Consumer Friendly Descriptors/ConsumerDescriptor.txt", 3, "1000002"),
        ("Consumer Friendly Descriptors/ConsumerDescriptor.txt", 3, "1000002\t0001A\t"),
        ("TelemedicineCodes.txt", 4, "not-a-code"),
    ],
)
def test_broken_line_in_other_files(tmp_path, store_path, name, k, text):
    folder = copy_sample(tmp_path)
    number = data_line(folder / name, k)
    replace_line(folder / name, number, text)
    before_dump = dump(store_path)
    with pytest.raises(ImportFailed) as failure:
        loader.import_release(Store(store_path), folder, "2026")
    assert f"{name} line {number}:" in str(failure.value)
    assert dump(store_path) == before_dump


def test_duplicate_code_in_longult_fails(tmp_path, store_path):
    folder = copy_sample(tmp_path)
    insert_line(folder / "LONGULT.txt", data_line(folder / "LONGULT.txt", 3),
                "99202\tA second, different descriptor for 99202")
    before_dump = dump(store_path)
    try:
        with pytest.raises(ImportFailed) as failure:
            loader.import_release(Store(store_path), folder, "2026")
        assert "99202" in str(failure.value)
    finally:
        assert dump(store_path) == before_dump


def test_missing_longult_fails(tmp_path, store_path):
    folder = copy_sample(tmp_path)
    (folder / "LONGULT.txt").unlink()
    before_dump = dump(store_path)
    with pytest.raises(ImportFailed, match="LONGULT.txt"):
        loader.import_release(Store(store_path), folder, "2026")
    assert dump(store_path) == before_dump


def test_longult_file_name_case_does_not_matter(tmp_path):
    folder = copy_sample(tmp_path)
    (folder / "LONGULT.txt").rename(folder / "longult.TXT")
    path = tmp_path / "tx.db"
    store = Store(path)
    store.create()
    loader.import_release(store, folder, "2026")
    assert client_for(path).get(LOOKUP, query_string={"system": CPT,
                                                      "code": "64636"}).status_code == 200


def test_a_file_is_not_a_folder(tmp_path, store_path):
    before_dump = dump(store_path)
    with pytest.raises(ImportFailed):
        loader.import_release(Store(store_path), loader.sample_folder("2026") / "LONGULT.txt",
                              "2026")
    with pytest.raises(ImportFailed):
        loader.import_release(Store(store_path), tmp_path / "does-not-exist", "2026")
    assert dump(store_path) == before_dump


@pytest.mark.parametrize("version", [
    "20x6", "26", "2026a", "", "2026.1", "-2026",
    "２０２６",
])
def test_bad_version_fails(store_path, version):
    before_dump = dump(store_path)
    with pytest.raises(ImportFailed) as failure:
        loader.import_release(Store(store_path), loader.sample_folder("2026"), version)
    assert "version" in str(failure.value)
    assert dump(store_path) == before_dump


def test_binary_file_fails(tmp_path, store_path):
    folder = copy_sample(tmp_path)
    (folder / "SHORTU.txt").write_bytes(b"\x00\x01\x02PK\x03\x04")
    with pytest.raises(ImportFailed, match="SHORTU.txt"):
        loader.import_release(Store(store_path), folder, "2026")


def test_failed_import_into_an_empty_store_leaves_it_empty(tmp_path):
    folder = copy_sample(tmp_path)
    replace_line(folder / "LONGULT.txt", data_line(folder / "LONGULT.txt", 2), "XYZ")
    path = tmp_path / "empty.db"
    store = Store(path)
    store.create()
    with pytest.raises(ImportFailed):
        loader.import_release(store, folder, "2026")
    assert store.is_empty()
    assert client_for(path).get("/fhir/CodeSystem").fhir["total"] == 0


# -- space-separated and BOM ------------------------------------------------------------------


def test_space_separated_descriptors_and_bom_are_read(tmp_path):
    folder = copy_sample(tmp_path)
    longult = folder / "LONGULT.txt"
    text = longult.read_text(encoding="utf-8").replace("\t", " ")
    longult.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    path = tmp_path / "tx.db"
    store = Store(path)
    store.create()
    loader.import_release(store, folder, "2026")
    body = client_for(path).get(LOOKUP, query_string={"system": CPT, "code": "00100"}).fhir
    assert param_dict(body)["display"] == [
        "Anesthesia care during an operation on a salivary gland, biopsy of the gland included"]


# -- the CMS add-on file -------------------------------------------------------------------


def copy_addons(tmp_path: Path) -> Path:
    path = tmp_path / "addons.txt"
    shutil.copy(addons.SAMPLE_FILE, path)
    return path


@pytest.mark.parametrize(
    "number, old, new, words",
    [
        (3, "2012001", "2012999", ["2012999"]),  # day 999 of 2012
        (4, "2012001", "20x2001", ["20x2001"]),
        (5, "2014365", "2014366", ["2014366"]),  # 2014 had 365 days
        (3, "1\t64636", "4\t64636", ["edit type"]),
        (4, "64633", "646", ["646"]),
        (6, "0001U", "0001U-X", ["0001U-X"]),
    ],
)
def test_broken_addon_file_names_the_line_and_keeps_the_old_map(
        tmp_path, store_path, number, old, new, words):
    path = copy_addons(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert old in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before_dump, before = dump(store_path), answers(store_path)
    with pytest.raises(ImportFailed) as failure:
        addons.import_edits(Store(store_path), path, "2026Q1")
    message = str(failure.value)
    assert f"line {number}" in message
    assert path.name in message
    for word in words:
        assert word in message
    assert dump(store_path) == before_dump
    assert answers(store_path) == before
    assert properties(before[("2026", "64636")][1])["primary-code"] == ["64635"]


def test_addon_file_with_too_few_columns(tmp_path, store_path):
    path = copy_addons(tmp_path)
    with path.open("a", encoding="utf-8") as f:
        f.write("1\t64636\n")
    before_dump = dump(store_path)
    with pytest.raises(ImportFailed, match="addons.txt line 7: no Primary_Code"):
        addons.import_edits(Store(store_path), path, "x")
    assert dump(store_path) == before_dump


def test_missing_or_empty_addon_file(tmp_path, store_path):
    before_dump = dump(store_path)
    with pytest.raises(ImportFailed):
        addons.import_edits(Store(store_path), tmp_path / "nope.txt", "x")
    notice, header = addons.SAMPLE_FILE.read_text().splitlines()[:2]
    notice_only = tmp_path / "notice.txt"
    notice_only.write_text(notice + "\n")
    with pytest.raises(ImportFailed, match="no header row with the columns Add-On_Code"):
        addons.import_edits(Store(store_path), notice_only, "x")
    header_only = tmp_path / "header.txt"
    header_only.write_text(f"{notice}\n{header}\n")
    with pytest.raises(ImportFailed, match="no add-on code edits found"):
        addons.import_edits(Store(store_path), header_only, "x")
    assert dump(store_path) == before_dump


def test_addon_import_replaces_the_previous_map(tmp_path, store_path):
    path = tmp_path / "new-edits.txt"
    path.write_text(
        "Addon Code\tPrimary Code\tAOC Deletion Date\tPrimary Code Deletion Date\t"
        "AOC Edit Effective Date\tAOC Edit Deletion Date\tAOC Edit Type\tNotes\n"
        "64636\t64633\t*\t*\t20200101\t*\t1\t\n",
        encoding="utf-8",
    )
    assert addons.import_edits(Store(store_path), path, "2026Q2").stored == 1
    client = client_for(store_path)
    body = client.get(LOOKUP, query_string={"system": CPT, "code": "64636"}).fhir
    assert properties(body)["primary-code"] == ["64633"]
    # 64634 is no longer in the edits, but its descriptor still says it is an add-on
    body = client.get(LOOKUP, query_string={"system": CPT, "code": "64634"}).fhir
    assert "primary-code" not in properties(body)
    [entry] = client.get("/fhir/ConceptMap").fhir["entry"]
    assert entry["resource"]["version"] == "2026Q2"


# -- re-import and order of years ----------------------------------------------------------


def test_reimporting_the_same_year_replaces_it(store_path):
    before = answers(store_path)
    loader.import_release(Store(store_path), loader.sample_folder("2026"), "2026")
    loader.import_release(Store(store_path), loader.sample_folder("2025"), "2025")
    assert answers(store_path) == before


def test_reimport_with_a_changed_descriptor(tmp_path, store_path):
    folder = copy_sample(tmp_path)
    text = (folder / "LONGULT.txt").read_text(encoding="utf-8")
    (folder / "LONGULT.txt").write_text(
        text.replace("Blood test that detects antibodies", "Serum test that detects antibodies"),
        encoding="utf-8")
    before = answers(store_path)
    loader.import_release(Store(store_path), folder, "2026")
    after = answers(store_path)
    assert after["counts"] == before["counts"]
    body = client_for(store_path).get(LOOKUP, query_string={"system": CPT,
                                                            "code": "86701"}).fhir
    assert param_dict(body)["display"][0].startswith("Serum test")


def concepts_by_code(path: Path, version: str) -> dict[str, dict]:
    body = client_for(path).get(f"/fhir/CodeSystem/cpt-{version}",
                                query_string={"_summary": "false"}).fhir
    return {c["code"]: c for c in body["concept"]}


def test_import_order_does_not_matter(tmp_path, store_path):
    path = tmp_path / "reversed.db"
    store = Store(path)
    store.create()
    loader.import_release(store, loader.sample_folder("2026"), "2026")
    # alone, 2026 knows nothing of 0042T and has no new codes
    client = client_for(path)
    assert client.get(LOOKUP, query_string={"system": CPT, "code": "0042T"}).status_code == 404
    alone = client.get(LOOKUP, query_string={"system": CPT, "code": "0901T"}).fhir
    assert "effective-date" not in properties(alone)

    loader.import_release(store, loader.sample_folder("2025"), "2025")
    addons.import_edits(store, addons.SAMPLE_FILE, "sample")
    client = client_for(path)
    deleted = properties(client.get(LOOKUP, query_string={"system": CPT,
                                                          "code": "0042T"}).fhir)
    assert deleted["status"] == ["deleted"]
    assert deleted["deleted-date"] == ["2026-01-01"]
    assert deleted["inactive"] == [True]
    new = properties(client.get(LOOKUP, query_string={"system": CPT, "code": "0901T"}).fhir)
    assert new["effective-date"] == ["2026-01-01"]
    for version in ("2025", "2026"):
        assert concepts_by_code(path, version) == concepts_by_code(store_path, version)
    assert answers(path) == answers(store_path)


# -- the command line -------------------------------------------------------------------------


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(server.main, list(args), catch_exceptions=False)


def test_cli_import_and_lookup(tmp_path):
    db = str(tmp_path / "cli.db")
    result = run("import", "cpt", str(loader.sample_folder("2026")), "--version", "2026",
                 "--db", db)
    assert result.exit_code == 0, result.output
    assert "CPT 2026" in result.output
    result = run("import", "cpt", str(loader.sample_folder("2025")), "--version", "2025",
                 "--db", db)
    assert result.exit_code == 0, result.output
    result = run("import", "cms-addons", str(addons.SAMPLE_FILE), "--db", db)
    assert result.exit_code == 0, result.output
    assert "CMS add-on code edits 2026Q2: 4 edits stored from 4 rows read" in result.output

    result = run("lookup", "64636", "--db", db)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert_valid_r4b(body)
    assert param_dict(body)["code"] == ["64636"]
    assert param_dict(body)["version"] == ["2026"]
    assert properties(body)["primary-code"] == ["64635"]

    result = run("lookup", "99252", "--version", "2025", "--db", db)
    assert result.exit_code == 0, result.output
    assert param_dict(json.loads(result.stdout))["version"] == ["2025"]


def test_cli_lookup_unknown_code_exits_non_zero(db_path):
    result = run("lookup", "00000", "--db", str(db_path))
    assert result.exit_code != 0
    body = json.loads(result.stdout)
    assert_valid_r4b(body)
    assert body["resourceType"] == "OperationOutcome"


def test_cli_failed_cpt_import_changes_nothing(tmp_path, store_path):
    folder = copy_sample(tmp_path)
    number = data_line(folder / "LONGULT.txt", 7)
    replace_line(folder / "LONGULT.txt", number, "XYZ")
    before_dump = dump(store_path)
    result = run("import", "cpt", str(folder), "--version", "2026", "--db", str(store_path))
    assert result.exit_code != 0
    assert "nothing changed" in result.output
    assert f"LONGULT.txt line {number}:" in result.output
    assert dump(store_path) == before_dump


def test_cli_bad_version_changes_nothing(store_path):
    before_dump = dump(store_path)
    result = run("import", "cpt", str(loader.sample_folder("2026")), "--version", "20x6",
                 "--db", str(store_path))
    assert result.exit_code != 0
    assert "nothing changed" in result.output
    assert dump(store_path) == before_dump


def test_cli_failed_addon_import_changes_nothing(tmp_path, store_path):
    path = copy_addons(tmp_path)
    path.write_text(path.read_text().replace("2012001", "2012400", 1))
    before_dump = dump(store_path)
    result = run("import", "cms-addons", str(path), "--db", str(store_path))
    assert result.exit_code != 0
    assert "nothing changed" in result.output
    assert "addons.txt line 3: '2012400' is not a date" in result.output
    assert dump(store_path) == before_dump


# -- a running server and a new year --------------------------------------------------------


def test_running_app_sees_a_new_year_and_keeps_the_default_until_it_is_in_force(
        store_path, tmp_path):
    from datetime import date

    app = server.create_app({"DB": str(store_path)})
    client = FhirClient(app.test_client())
    assert client.get("/fhir/CodeSystem").fhir["total"] == 2

    folder = copy_sample(tmp_path)  # the 2026 sample, published as next year's release
    loader.import_release(Store(store_path), folder, "2027")

    bundle = client.get("/fhir/CodeSystem").fhir
    assert sorted(e["resource"]["id"] for e in bundle["entry"]) == [
        "cpt-2025", "cpt-2026", "cpt-2027"]

    def version_on(**query: str) -> list[str]:
        r = client.get(LOOKUP, query_string={"system": CPT, "code": "99202", **query})
        assert r.status_code == 200, r.fhir
        return param_dict(r.fhir)["version"]

    assert version_on(version="2027") == ["2027"]
    assert version_on(date="2026-11-25") == ["2026"]  # published, not yet in force
    assert version_on(date="2027-02-01") == ["2027"]
    in_force = "2027" if date.today() >= date(2027, 1, 1) else "2026"
    assert version_on() == [in_force]
    tc = client.get("/fhir/metadata", query_string={"mode": "terminology"}).fhir
    [cpt] = [c for c in tc["codeSystem"] if c["uri"] == CPT]
    assert [v["code"] for v in cpt["version"] if v.get("isDefault")] == [in_force]

    # 0042T, deleted in 2026, is not deleted again in 2027: it is simply not there
    r = client.get(LOOKUP, query_string={"system": CPT, "code": "0042T", "version": "2027"})
    assert r.status_code == 404
    r = client.get(LOOKUP, query_string={"system": CPT, "code": "0901T", "version": "2027"})
    assert properties(r.fhir)["effective-date"] == ["2026-01-01"]
