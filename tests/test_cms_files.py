"""The CMS edit files as CMS ships them: notice rows before the header, columns found by name,
Julian and blank dates, tab/comma/pipe text, .xlsx workbooks and .zip archives, the PTP header
wrapped over four rows, withdrawn PTP edits, and what an import prints. Every file here is made
in tmp_path from the rows of our samples (codesystems/cms/sample), imported by the real importers
into a real SQLite store.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import dump
from openpyxl import Workbook

import server
from codesystems.cms import mue, ptp
from codesystems.cms.tables import normalize
from codesystems.cpt import addons
from codesystems.cpt import definition as cpt
from terminology.errors import ImportFailed
from terminology.store import Store
from terminology.store.edits import edit_tables, iter_ptp_rows, mue_row

AOC_HEADER = ["AOC_Edit_Type", "Add-On_Code", "AOC_DelDT", "Primary_Code", "Primary_Code_DelDT",
              "AOC_Edit_EffDT", "AOC_Edit_DelDT", "Special_Instruction_Notes"]
NOTICE = "Notice: CPT is a registered trademark of the American Medical Association."


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "tx.db")
    store.create()
    return store


def aoc_rows(path: Path = addons.SAMPLE_FILE) -> list[list[str]]:
    """The rows of an add-on code edit text file, notice and header included."""
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def write_text(path: Path, rows: list[list[Any]], delimiter: str = "\t") -> Path:
    path.write_bytes("\r\n".join(delimiter.join(map(str, r)) for r in rows).encode() + b"\r\n")
    return path


def write_xlsx(path: Path, rows: list[list[Any]], title: str = "Sheet1") -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def write_zip(path: Path, *members: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for member in members:
            archive.write(member, member.name)
    return path


def edits_of(store: Store, code: str) -> list[tuple[str | None, dict[str, Any]]]:
    return [(e.target_code, e.extra or {})
            for e in store.map_targets(cpt.ADDON_MAP_URL, cpt.URL, code)]


# -- the add-on code edit file --------------------------------------------------------------


def test_aoc_notice_row_then_header_row(store):
    summary = addons.import_edits(store, addons.SAMPLE_FILE)
    assert (summary.title, summary.stored) == ("CMS add-on code edits 2026Q2", 4)
    [read] = summary.files
    assert (read.name, read.header_at(), read.notice_rows, read.rows) == (
        "AOC_V2026Q2-MCR.txt", "line 2", 1, 4)
    assert summary.remarks == {"edits of type 1": 3, "edits of type 2": 1,
                               "edits that have ended (AOC_Edit_DelDT given)": 1}
    assert [e[0] for e in edits_of(store, "64634")] == ["64633", "64635"]


def test_aoc_julian_and_blank_dates(store, tmp_path):
    rows = [[NOTICE], AOC_HEADER,
            ["1", "64636", "2024366", "64635", "", "2024060", "2024061", ""],  # 2024 is a leap year
            ["1", "64636", "", "64633", "*", "2023365", "", ""]]
    addons.import_edits(store, write_text(tmp_path / "AOC_V2025Q1-MCR.txt", rows))
    (first, dated), (_, blank) = edits_of(store, "64636")
    assert first == "64635"
    assert (dated["addon_deleted"], dated["effective"], dated["ended"]) == (
        "2024-12-31", "2024-02-29", "2024-03-01")
    assert (blank["addon_deleted"], blank["primary_deleted"], blank["effective"],
            blank["ended"]) == (None, None, "2023-12-31", None)


@pytest.mark.parametrize("bad", ["2023366", "2024000", "202401", "2024-13-01"])
def test_aoc_date_that_is_not_a_day_names_file_and_line(store, tmp_path, bad):
    rows = [[NOTICE], AOC_HEADER, ["1", "64636", "", "64635", "", "2012001", "", ""],
            ["1", "64636", "", "64633", "", bad, "", ""]]
    with pytest.raises(ImportFailed, match=f"AOC.txt line 4: '{bad}' is not a date"):
        addons.import_edits(store, write_text(tmp_path / "AOC.txt", rows))


@pytest.mark.parametrize("names", [
    # the columns in another order, spelled as other releases and spreadsheets spell them
    ["Special Instruction Notes", "AOC_Edit_DelDT", "aoc edit effdt", "PRIMARY CODE DELDT",
     "Primary Code", "AOC DelDT (Julian)", "Addon_Code", "AOC Edit Type"],
    ["Special_Instruction_Notes", "AOC Edit Deletion Date", "AOC Edit Effective Date (YYYYDDD)",
     "Primary Code Deletion Date", "PRIMARY_CODE", "AOC Deletion Date", "ADD ON CODE",
     "Edit Type"],
])
def test_aoc_columns_are_found_by_name_in_any_order(store, tmp_path, names):
    rows = [[NOTICE], names] + [list(reversed(r)) for r in aoc_rows()[2:]]
    summary = addons.import_edits(store, write_text(tmp_path / "AOC.txt", rows), "x")
    assert summary.stored == 4 and summary.files[0].unused_columns == []
    assert edits_of(store, "64634")[1][1]["ended"] == "2014-12-31"
    assert edits_of(store, "0001U") == [(None, edits_of(store, "0001U")[0][1])]  # CCCCC


def test_header_names_are_normalized():
    assert normalize("Add-On_Code") == normalize("Addon Code") == normalize("ADD ON CODE")
    assert normalize('"HCPCS/\nCPT Code"') == "hcpcscptcode"


@pytest.mark.parametrize("delimiter", ["\t", ",", "|"])
def test_aoc_delimiter_comes_from_the_header_row(store, tmp_path, delimiter):
    # the notice row has commas and pipes of its own; only the header row tells the delimiter
    rows = [["Notice, with commas | and a pipe"]] + aoc_rows()[1:]
    path = write_text(tmp_path / "AOC.txt", rows, delimiter)
    assert addons.import_edits(store, path, "x").stored == 4
    assert [e[0] for e in edits_of(store, "64636")] == ["64635"]


def test_aoc_xlsx_with_numbers_for_types_and_dates(store, tmp_path):
    """Excel keeps Julian dates and edit types as numbers, and may drop a code's leading zero."""
    rows: list[list[Any]] = [[NOTICE], AOC_HEADER]
    for r in aoc_rows()[2:]:
        rows.append([int(r[0]), r[1], None, r[3], None, int(r[5]), int(r[6]) if r[6] else None,
                     r[7] or None])
    rows.append([1, 1234, None, 100, None, 2020001, None, None])  # 01234 and 00100 as numbers
    path = write_xlsx(tmp_path / "AOC_V2026Q2-MCR.xlsx", rows, title="AOC_V2026Q2")
    summary = addons.import_edits(store, path)
    assert summary.stored == 5
    assert summary.files[0].name == "AOC_V2026Q2-MCR.xlsx sheet 'AOC_V2026Q2'"
    assert summary.files[0].header_at() == "row 2"
    assert edits_of(store, "64634")[1][1]["ended"] == "2014-12-31"
    assert [e[0] for e in edits_of(store, "01234")] == ["00100"]


def test_aoc_zip_with_both_formats_reads_the_workbook_and_says_so(store, tmp_path):
    text = write_text(tmp_path / "AOC_V2026Q2-MCR.txt", aoc_rows())
    book = write_xlsx(tmp_path / "AOC_V2026Q2-MCR.xlsx", aoc_rows())
    readme = tmp_path / "README.pdf"
    readme.write_bytes(b"%PDF-1.4")
    archive = write_zip(tmp_path / "aoc-v2026q2.zip", text, book, readme)
    summary = addons.import_edits(store, archive)
    assert summary.stored == 4
    assert [f.name for f in summary.files] == ["aoc-v2026q2.zip: AOC_V2026Q2-MCR.xlsx sheet 'Sheet1'"]
    assert ("aoc-v2026q2.zip: AOC_V2026Q2-MCR.txt: a text copy of the workbook "
            "(AOC_V2026Q2-MCR.xlsx is read)") in summary.not_read
    assert any(n.startswith("aoc-v2026q2.zip: README.pdf: not an edit table")
               for n in summary.not_read)


def test_aoc_zip_of_the_text_file_alone(store, tmp_path):
    text = write_text(tmp_path / "AOC_V2026Q2-MCR.txt", aoc_rows())
    summary = addons.import_edits(store, write_zip(tmp_path / "aoc.zip", text), "2026Q2")
    assert summary.stored == 4 and summary.files[0].name == "aoc.zip: AOC_V2026Q2-MCR.txt"


@pytest.mark.parametrize(("make", "where"), [
    (lambda p, rows: write_text(p / "AOC.txt", rows), "AOC.txt line 5"),
    (lambda p, rows: write_xlsx(p / "AOC.xlsx", rows, "Edits"), "AOC.xlsx sheet 'Edits' row 5"),
    (lambda p, rows: write_zip(p / "AOC.zip", write_text(p / "AOC_V1.txt", rows)),
     "AOC.zip: AOC_V1.txt line 5"),
])
def test_unreadable_row_names_file_and_line_and_leaves_the_store_as_it_was(
        store, tmp_path, make, where):
    addons.import_edits(store, addons.SAMPLE_FILE)
    before = dump(store.path)
    rows = aoc_rows()
    rows[4][1] = "6463"  # the add-on code of the third edit
    with pytest.raises(ImportFailed) as failure:
        addons.import_edits(store, make(tmp_path, rows))
    assert failure.value.message == f"{where}: Add-On_Code '6463' is not a CPT or HCPCS code"
    assert dump(store.path) == before


def test_first_row_without_its_code_is_an_error_not_more_header(store, tmp_path):
    """Rows of words right after a header may be the rest of it (PTP); a data row never is."""
    rows = aoc_rows()
    rows[2][1] = ""
    with pytest.raises(ImportFailed, match="AOC.txt line 3: no Add-On_Code"):
        addons.import_edits(store, write_text(tmp_path / "AOC.txt", rows))


def test_quote_left_open_names_its_line(store, tmp_path):
    rows = aoc_rows()
    rows[3][7] = '"Sample note'  # never closed: the rest of the file would be one cell
    rows += [["1", "64636", "", "64635", "", "2012001", "", "x" * 200]] * 1000
    with pytest.raises(ImportFailed, match=r"AOC.txt line 4: cannot be read \(field larger"):
        addons.import_edits(store, write_text(tmp_path / "AOC.txt", rows))
    short = aoc_rows()
    short[3][7] = '"Sample note'
    with pytest.raises(ImportFailed, match="AOC.txt line 4: a cell runs over several lines"):
        addons.import_edits(store, write_text(tmp_path / "AOC.txt", short))


def test_file_without_the_header_says_what_it_looked_for(store, tmp_path):
    rows = [[NOTICE], ["Add-On_Code", "Primary_Code", "Type of edit"], ["64636", "64635", "1"]]
    with pytest.raises(ImportFailed) as failure:
        addons.import_edits(store, write_text(tmp_path / "AOC.txt", rows))
    assert failure.value.message == (
        "no add-on code edit table found: AOC.txt has no header row with the columns "
        "Add-On_Code, Primary_Code, AOC_Edit_Type in its first 50 lines; nearest: AOC.txt line 2 "
        "(tab-separated) lacks AOC_Edit_Type")


def test_damaged_zip_is_refused(store, tmp_path):
    damaged = tmp_path / "AOC.zip"
    damaged.write_bytes(write_zip(tmp_path / "whole.zip", addons.SAMPLE_FILE).read_bytes()[:60])
    with pytest.raises(ImportFailed, match="AOC.zip: not a readable zip"):
        addons.import_edits(store, damaged)


def test_old_excel_workbook_is_refused(store, tmp_path):
    old = tmp_path / "AOC.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with pytest.raises(ImportFailed, match=r"AOC.xls: an Excel 97-2003 \(.xls\) workbook"):
        addons.import_edits(store, old)


# -- MUE --------------------------------------------------------------------------------------


def mue_rows() -> list[list[Any]]:
    """The MUE sample as a spreadsheet has it: a notice, the header, the rows."""
    lines = mue.SAMPLE_FILE.read_text(encoding="utf-8").splitlines()[4:]
    return ([[NOTICE], ["HCPCS/\nCPT Code", "Practitioner Services MUE Values",
                        "MUE Adjudication Indicator", "MUE Rationale"]]
            + [line.split(",") for line in lines])


def test_mue_sample_quoted_notice_and_header_over_two_lines(store):
    summary = mue.import_table(store, mue.SAMPLE_FILE)
    [read] = summary.files
    assert (read.header_at(), read.notice_rows, read.rows) == ("line 3", 1, 20)
    assert summary.table.effective == "2025-01-01" and summary.stored == 20
    assert summary.remarks["edits with adjudication indicator 1"] == 2


def test_mue_xlsx(store, tmp_path):
    rows = mue_rows()
    for row in rows[2:]:
        row[1] = int(row[1])  # MUE values are numbers in the workbook
    path = write_xlsx(tmp_path / "MCR_MUE_OutpatientHospitalServices_Eff_04-01-2026.xlsx", rows)
    summary = mue.import_table(store, path)
    table = summary.table
    assert (table.setting, table.effective, table.row_count) == (
        "outpatient-hospital", "2026-04-01", 20)
    row = mue_row(store, table.id, "87593")
    assert (row.units, row.indicator, row.rationale) == (4, 1, "Clinical: Data")
    assert summary.files[0].header_at() == "row 2" and summary.files[0].notice_rows == 1


def test_mue_zip_of_csv_and_xlsx(store, tmp_path):
    name = "MCR_MUE_PractitionerServices_Eff_07-01-2026"
    book = write_xlsx(tmp_path / f"{name}.xlsx", mue_rows())
    csv_copy = tmp_path / f"{name}.csv"
    csv_copy.write_bytes(mue.SAMPLE_FILE.read_bytes())
    summary = mue.import_table(store, write_zip(tmp_path / f"{name}.zip", book, csv_copy))
    assert (summary.table.effective, summary.stored) == ("2026-07-01", 20)
    copy = f"{name}.zip: {name}.csv: a text copy of the workbook ({name}.xlsx is read)"
    assert summary.not_read == [copy]


def test_broken_mue_xlsx_row_names_sheet_and_row(store, tmp_path):
    mue.import_table(store, mue.SAMPLE_FILE)
    before = edit_tables(store)
    rows = mue_rows()
    rows[7][1] = "four"  # 64634
    path = write_xlsx(tmp_path / "MCR_MUE_PractitionerServices_Eff_01-01-2025.xlsx", rows, "MUE")
    with pytest.raises(ImportFailed) as failure:
        mue.import_table(store, path)
    assert failure.value.message == ("MCR_MUE_PractitionerServices_Eff_01-01-2025.xlsx sheet "
                                     "'MUE' row 8: MUE Values 'four' is not a whole number")
    assert edit_tables(store) == before


# -- PTP --------------------------------------------------------------------------------------


def ptp_lines() -> list[str]:
    return ptp.SAMPLE_FILE.read_text(encoding="latin-1").splitlines()


def test_ptp_sample_header_wrapped_over_four_lines(store):
    summary = ptp.import_tables(store, [ptp.SAMPLE_FILE])
    [read] = summary.files
    assert (read.header_at(), read.notice_rows, read.rows) == ("lines 3-6", 2, 10)
    rationale = {(r.column1, r.column2): r.rationale
                 for r in iter_ptp_rows(store, summary.table.id)}
    assert rationale[("64635", "64633")].endswith("(§ 1)")  # latin-1, as CMS writes it


def test_ptp_header_on_one_row(store, tmp_path):
    header = ("Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date "
              "*=no data\tModifier 0=not allowed 1=allowed 9=not applicable\tPTP Edit Rationale")
    lines = ptp_lines()[:2] + [header] + ptp_lines()[6:]
    path = tmp_path / "ccipra-v321r0-f2.txt"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    summary = ptp.import_tables(store, [path])
    assert summary.stored == 10 and summary.files[0].header_at() == "line 3"


def ptp_zip(folder: Path, name: str, data_lines: list[str]) -> Path:
    """A CMS PTP zip: the .TXT and the same rows as an .xlsx (notice, title, header, rows)."""
    lines = ptp_lines()[:6] + data_lines
    text = folder / f"{name}.TXT"
    text.write_text("\r\n".join(lines) + "\r\n", encoding="latin-1")
    rows = [line.split("\t") for line in lines]
    for row in rows[6:]:
        row[3] = int(row[3])  # effective dates are numbers in the workbook
    book = write_xlsx(folder / f"{name}.xlsx", rows)
    return write_zip(folder / f"{name}.zip", text, book)


def test_ptp_zips_of_one_quarter(store, tmp_path):
    data = ptp_lines()[6:]
    first = ptp_zip(tmp_path, "ccipra-v321r0-f1", data[:4])
    second = ptp_zip(tmp_path, "ccipra-v321r0-f2", data[4:])
    summary = ptp.import_tables(store, [first, second], label="2026Q1")
    assert summary.stored == 10 and summary.table.setting == "practitioner"
    assert [(f.name, f.header_at(), f.rows) for f in summary.files] == [
        ("ccipra-v321r0-f1.zip: ccipra-v321r0-f1.xlsx sheet 'Sheet1'", "rows 3-6", 4),
        ("ccipra-v321r0-f2.zip: ccipra-v321r0-f2.xlsx sheet 'Sheet1'", "rows 3-6", 6)]
    stored = {(r.column1, r.column2): r for r in iter_ptp_rows(store, summary.table.id)}
    assert stored[("87593", "86701")].deleted == "2025-12-31"
    assert stored[("99214", "99213")].prior_1996 and stored[("99214", "99213")].modifier == 0


def test_ptp_withdrawn_rows_are_kept_never_in_force_and_counted(store, tmp_path):
    lines = ptp_lines() + ["99213\t99212\t\t20260401\t20260331\t0\tSample: withdrawn",
                           "99213\t99211\t\t20260401\t20260101\t1\tSample: withdrawn early"]
    path = tmp_path / "ccipra-v321r0-f1.txt"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    summary = ptp.import_tables(store, [path])
    assert summary.stored == 12
    assert summary.remarks == {ptp.WITHDRAWN: 2}
    assert f"  {ptp.WITHDRAWN}: 2" in summary.lines()
    withdrawn = [r for r in iter_ptp_rows(store, summary.table.id) if r.column1 == "99213"]
    assert [(r.column2, r.effective, r.deleted) for r in withdrawn] == [
        ("99211", "2026-04-01", "2026-01-01"), ("99212", "2026-04-01", "2026-03-31")]
    for day in ("2025-12-31", "2026-01-01", "2026-03-31", "2026-04-01", "2027-01-01"):
        assert not any(ptp.in_force(r, day) for r in withdrawn)
    element = next(e for g in ptp.concept_map(store, "practitioner")["group"]
                   for e in g["element"] if e["code"] == "99213")
    assert all("never in force" in t["comment"] for t in element["target"])


def test_broken_ptp_zip_member_names_member_and_line(store, tmp_path):
    ptp.import_tables(store, [ptp.SAMPLE_FILE])
    before = dump(store.path)
    data = ptp_lines()[6:]
    data[2] = data[2].replace("\t1\t", "\t7\t")
    text = tmp_path / "ccipra-v321r0-f1.TXT"
    text.write_text("\n".join(ptp_lines()[:6] + data) + "\n", encoding="latin-1")
    archive = write_zip(tmp_path / "ccipra-v321r0-f1.zip", text)
    with pytest.raises(ImportFailed) as failure:
        ptp.import_tables(store, [archive])
    assert failure.value.message == ("ccipra-v321r0-f1.zip: ccipra-v321r0-f1.TXT line 9: "
                                     "modifier indicator '7' is not 0, 1 or 9")
    assert dump(store.path) == before


# -- what the command line prints ------------------------------------------------------------


def test_cli_prints_what_it_read_stored_and_skipped(tmp_path):
    db = str(tmp_path / "tx.db")
    rows = aoc_rows()
    book = write_xlsx(tmp_path / "AOC_V2026Q2-MCR.xlsx", rows[:4] + [[]] + rows[4:])
    archive = write_zip(tmp_path / "AOC_V2026Q2-MCR.zip", book)
    done = CliRunner().invoke(server.main, ["import", "cms-addons", str(archive), "--db", db])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "CMS add-on code edits 2026Q2: 4 edits stored from 4 rows read",
        ("  AOC_V2026Q2-MCR.zip: AOC_V2026Q2-MCR.xlsx sheet 'Sheet1': header on row 2 after 1 "
         "notice row; 4 rows read"),
        "  edits of type 1: 3",
        "  edits of type 2: 1",
        "  edits that have ended (AOC_Edit_DelDT given): 1",
        "  rows skipped: 1; blank rows: 1",
    ]
