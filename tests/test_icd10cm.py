"""ICD-10-CM: the importer on our sample release folder (laid out as CDC/CMS ship it: tabular
XML, order file, code list, addenda, index) and once on the full code set the simple-icd-10-cm
package ships; how it picks the files, its failures, and the code system as the FHIR API serves
it.
"""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import server
from codesets import (  # noqa: F401 (the *_fixture names: fixtures)
    ICD,
    ICD_CODES,
    ICD_FOLDER,
    ICD_INDEX,
    ICD_ORDER,
    ICD_XML,
    codeset_client_fixture,
    codeset_db_fixture,
    copy_of,
    dump,
    edit_line,
)
from codesystems.icd10cm import loader
from codesystems.icd10cm.release import find_release
from conftest import LOOKUP, VALIDATE, FhirClient, designations, param_dict, properties
from terminology.errors import ImportFailed
from terminology.store import Store


SUBSUMES = "/fhir/CodeSystem/$subsumes"
EXPAND = "/fhir/ValueSet/$expand"


def lookup(client: FhirClient, code: str, **extra: str) -> dict:
    response = client.get(LOOKUP, query_string={"system": ICD, "code": code, **extra})
    assert response.status_code == 200, response.fhir
    return response.fhir


# -- parsing the sample ----------------------------------------------------------------------


def test_sample_gives_chapters_blocks_codes_and_seventh_character_codes():
    parsed = loader.read_source(ICD_FOLDER)
    codes = [c.code for c in parsed.concepts]
    assert parsed.version == "2026"
    assert parsed.effective_date == "2025-10-01"  # FY2026 starts on 1 October 2025
    assert codes[:6] == ["1", "A00-A09", "A00", "A00.0", "A00.9", "B20-B20"]
    assert {"1", "4", "19", "A00-A09", "B20-B20", "E08-E13", "S00-S09", "S70-S79"} <= set(codes)
    # the one-category block B20 and the category B20 are both kept, under different codes
    assert "B20" in codes and "B20-B20" in codes
    # 7th characters: padded with X to six characters, kept only when the order file has them
    assert {"S72.001A", "S72.001B", "S72.001D", "S72.001S", "S72.90XA", "S72.90XB",
            "S06.1X0D", "S06.1X7A"} <= set(codes)
    assert "S06.1X7D" not in codes and "S06.1X7S" not in codes
    assert len(codes) == len(set(codes)) == 47
    assert loader.billable_count(parsed) == 23


def test_the_files_are_picked_by_what_they_are_not_by_their_names_order():
    """The addenda sort after the code list and the order file; the index is XML too."""
    parsed = loader.read_source(ICD_FOLDER)
    assert parsed.files == [ICD_XML.name, ICD_ORDER.name, ICD_CODES.name, ICD_INDEX.name]
    ignored = dict(line.split(": ", 1) for line in parsed.ignored)
    assert set(ignored) == {"icd10cm-codes-addenda-2026.txt", "icd10cm-order-addenda-2026.txt",
                            "icd10cm-neoplasm-2026.xml", "icd10OrderFiles.pdf", "README.md"}
    assert ignored["icd10cm-codes-addenda-2026.txt"].startswith("addenda")
    assert "a table of the index" in ignored["icd10cm-neoplasm-2026.xml"]
    assert parsed.warnings == []  # the order file, code list and tabular list agree


def test_names_of_other_years_and_spellings(tmp_path):
    """Underscores (FY2024 and before), hyphens (FY2026), the April update's dated names, and a
    file whose name says nothing, told by its first line."""
    for names in (
        {"icd10cm-tabular-2026.xml": "icd10cm_tabular_2026.xml",
         "icd10cm-order-2026.txt": "icd10cm_order_2026.txt",
         "icd10cm-codes-2026.txt": "icd10cm_codes_2026.txt",
         "icd10cm-codes-addenda-2026.txt": "icd10cm_codes_addenda_2026.txt"},
        {"icd10cm-tabular-2026.xml": "icd10cm-tabular-April-1-2026.xml",
         "icd10cm-order-2026.txt": "icd10cm-order-April-1-2026.txt",
         "icd10cm-codes-2026.txt": "icd10cm-codes-April-1-2026.txt"},
        {"icd10cm-order-2026.txt": "descriptions.txt", "icd10cm-codes-2026.txt": "billable.txt",
         "icd10cm-codes-addenda-2026.txt": "changes.txt"},
    ):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        copy_of(ICD_XML, folder)
        for old, new in names.items():
            (folder / old).rename(folder / new)
        parsed = loader.read_source(folder)
        expected = [names.get(f.name, f.name) for f in (ICD_XML, ICD_ORDER, ICD_CODES, ICD_INDEX)]
        assert parsed.files == expected, names
        assert len(parsed.concepts) == 47 and parsed.warnings == []
        assert not any(name in line for line in parsed.ignored for name in expected)
    assert parsed.effective_date == "2025-10-01"
    april = loader.read_source(tmp_path / "1")
    assert april.effective_date == "2026-04-01"  # the April 1 update


def test_order_file_short_descriptions_are_designations(codeset_client):
    parsed = loader.read_source(ICD_FOLDER)
    fracture = parsed.concept("S72.001A")
    assert fracture.display == ("Fracture of unspecified part of neck of right femur, initial "
                                "encounter for closed fracture")
    assert [(d.value, d.use.code) for d in fracture.designations] == [
        ("Fx unsp part of neck of right femur, init for clos fx", "short")]
    assert [d.use.code for d in parsed.concept("E11.9").designations] == [
        "index", "index"]  # its short description is its display; its Alphabetic Index terms
    assert [(d.value, d.use.code) for d in parsed.concept("S06").designations] == [
        ("traumatic brain injury", "inclusion")]  # its includes note; no short description
    header = parsed.concept("S72.001")  # a header row of the order file has one too
    assert [d.value for d in header.designations] == ["Fracture of unsp part of neck of right femur"]
    body = lookup(codeset_client, "S72.90XB")
    assert [d["value"] for d in designations(body)] == [
        "Unsp fracture of unsp femur, init for opn fx type I/2"]


def test_seventh_characters_the_order_file_does_not_list_are_dropped_and_counted(tmp_path):
    parsed = loader.read_source(ICD_FOLDER)
    assert parsed.skipped == [("2 7th-character combinations that icd10cm-order-2026.txt does "
                              "not list (they do not exist): S06.1X7D, S06.1X7S")]
    # with the code list alone (CMS's billable codes), the same two are dropped
    folder = tmp_path / "codes"
    copy_of(ICD_XML, folder)
    (folder / ICD_ORDER.name).unlink()
    alone = loader.read_source(folder)
    assert {c.code for c in alone.concepts} == {c.code for c in parsed.concepts}
    assert "icd10cm-codes-2026.txt does not list" in alone.skipped[0]
    assert not any(d.use.code == "short" for c in alone.concepts  # they come from the order
                   for d in c.designations)


def test_without_order_file_or_code_list_every_seventh_character_is_made(tmp_path):
    xml = copy_of(ICD_XML, tmp_path / "icd")
    (tmp_path / "icd" / ICD_CODES.name).unlink()
    (tmp_path / "icd" / ICD_ORDER.name).unlink()
    parsed = loader.read_source(xml.parent)
    codes = {c.code for c in parsed.concepts}
    assert {"S06.1X7D", "S06.1X7S"} <= codes
    assert parsed.skipped == [] and "every 7th-character combination" in parsed.warnings[0]


def test_the_order_file_alone_gives_the_codes_without_chapters(tmp_path):
    """The code-descriptions zip without the tabular list."""
    order = copy_of(ICD_ORDER, tmp_path / "descriptions")
    (order.parent / ICD_XML.name).unlink()
    parsed = loader.read_source(order.parent)
    assert parsed.files == [ICD_ORDER.name] and parsed.version == "2026"
    assert len(parsed.concepts) == 39  # the rows: no chapters or blocks
    assert parsed.concept("S06.1X7D") is None
    e11 = parsed.concept("E11")
    assert ("billable", False) in {(p.code, p.value) for p in e11.properties}
    assert ("E11", "E11.6") in parsed.links and ("S72.90", "S72.90XA") in parsed.links
    assert ("S06.1X", "S06.1X0") in parsed.links
    assert "no tabular list" in parsed.warnings[0]
    assert [d.value for d in parsed.concept("S72.001A").designations] == [
        "Fx unsp part of neck of right femur, init for clos fx"]


def test_files_of_another_year_or_release_disagreeing_are_named(tmp_path):
    xml = copy_of(ICD_XML, tmp_path / "icd")
    (xml.parent / ICD_CODES.name).rename(xml.parent / "icd10cm-codes-2025.txt")
    edit_line(xml.parent / ICD_ORDER.name, 3)  # A00.9 missing from the order file
    parsed = loader.read_source(xml.parent)
    assert "icd10cm-codes-2025.txt: a code list for 2025, not 2026" in parsed.ignored
    assert parsed.warnings == ["1 codes not in icd10cm-order-2026.txt: A009"]


def test_the_two_cdc_zips_as_downloaded(tmp_path):
    """The code descriptions and the tables and index come as two zips, each with a folder."""
    zips = []
    for name, members in (("code-descriptions-2026.zip", ("icd10cm-codes", "icd10cm-order",
                                                           "icd10OrderFiles")),
                          ("table-and-index-2026.zip", ("icd10cm-tabular", "icd10cm-index"))):
        zips.append(tmp_path / name)
        with zipfile.ZipFile(zips[-1], "w") as zipped:
            for file in ICD_FOLDER.iterdir():
                if file.name.startswith(members):
                    zipped.write(file, f"{name.removesuffix('.zip')}/{file.name}")
    parsed = loader.read_source(zips)
    assert parsed.files == [ICD_XML.name, ICD_ORDER.name, ICD_CODES.name, ICD_INDEX.name]
    assert len(parsed.concepts) == 47 and parsed.skipped and parsed.warnings == []
    assert "code-descriptions-2026/icd10cm-codes-addenda-2026.txt: addenda" in " ".join(
        parsed.ignored)
    result = CliRunner().invoke(server.main, ["import", "icd10cm", *map(str, zips), "--db",
                                              str(tmp_path / "tx.db")])
    assert result.exit_code == 0, result.output
    assert "  skipped 2 7th-character combinations that icd10cm-order-2026.txt does not list " \
           "(they do not exist): S06.1X7D, S06.1X7S" in result.output.splitlines()
    assert ("  designations: 11 Alphabetic Index term, 3 Inclusion term, 19 Short description"
            in result.output.splitlines())


def test_two_files_for_one_role_are_refused(tmp_path):
    xml = copy_of(ICD_XML, tmp_path / "icd")
    (xml.parent / "icd10cm-order-April-1-2026.txt").write_bytes(ICD_ORDER.read_bytes())
    with pytest.raises(ImportFailed, match="more than one order file"):
        loader.read_source(xml.parent)
    # a file given is read, with the files beside it
    parsed = loader.read_source(xml.parent / ICD_ORDER.name)
    assert parsed.files == [ICD_XML.name, ICD_ORDER.name, ICD_CODES.name, ICD_INDEX.name]
    assert any("another order file" in line for line in parsed.ignored)


def test_displays_properties_and_links():
    parsed = loader.read_source(ICD_FOLDER)
    generated = parsed.concept("S72.90XA")
    assert generated.display == ("Unspecified fracture of unspecified femur, initial encounter "
                                 "for closed fracture")
    props = {(p.code, p.value) for p in generated.properties}
    assert ("billable", True) in props
    leaf = parsed.concept("S72.001")  # in the scope of S72's 7th characters: not billable
    assert ("billable", False) in {(p.code, p.value) for p in leaf.properties}
    chapter = parsed.concept("4")
    assert ("notSelectable", True) in {(p.code, p.value) for p in chapter.properties}
    e11 = {(p.code, p.value) for p in parsed.concept("E11").properties}
    assert ("excludes1", "gestational diabetes (O24.4-)") in e11
    assert ("useAdditionalCode", "code to identify control using insulin (Z79.4)") in e11
    assert ("inclusionTerm", "Classical cholera") in {
        (p.code, p.value) for p in parsed.concept("A00.0").properties}
    assert {("4", "E08-E13"), ("E08-E13", "E11"), ("E11", "E11.9"), ("B20-B20", "B20"),
            ("S72.001", "S72.001A"), ("S72.90", "S72.90XA")} <= set(parsed.links)


def test_the_package_file_is_found_without_importing_the_package():
    release = find_release([loader.package_folder()])
    assert release.tabular is not None and "tabular" in release.tabular.name
    assert release.code_list is not None and "code-list" in release.code_list.name
    assert release.order is None and release.ignored == []


# -- broken input: named by file and line, nothing changed -----------------------------------


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1)
                if text in line)


@pytest.mark.parametrize(
    "find, replace, message",
    [
        ("<name>A00.9</name>", "<name>A0-9</name>", "not an ICD-10-CM code"),
        ("<name>A00.9</name>", "<name>A00.0</name>", "listed twice"),
        ("<name>E11.9</name>", "<name>E12.9</name>", "does not extend"),
        ("<desc>Cholera, unspecified</desc>", "<desc></desc>", "needs a <name>"),
        ('<extension char="D">', '<extension char="">', "7th-character"),
    ],
)
def test_broken_element_names_file_and_line(tmp_path, codeset_db, find, replace, message):
    xml = copy_of(ICD_XML, tmp_path / "icd")
    number = _line_of(xml, find)
    edit_line(xml, number, xml.read_text().splitlines()[number - 1].replace(find, replace))
    before = dump(codeset_db)
    with pytest.raises(ImportFailed) as failure:
        loader.import_tabular(Store(codeset_db), xml.parent)
    text = str(failure.value)
    assert xml.name in text and message in text
    # the line of the element itself (a <diag> starts a line or two above its <name>, <desc>)
    assert any(f"line {n}:" in text for n in (number, number - 1, number - 2)), text
    assert dump(codeset_db) == before


def test_malformed_xml_names_the_line(tmp_path, codeset_db):
    xml = copy_of(ICD_XML, tmp_path / "icd")
    number = _line_of(xml, "<name>E11.65</name>")
    edit_line(xml, number, "            <name>E11.65</nam>")
    before = dump(codeset_db)
    with pytest.raises(ImportFailed, match=rf"{xml.name} line {number}: not well-formed"):
        loader.import_tabular(Store(codeset_db), xml.parent)
    assert dump(codeset_db) == before


def test_broken_code_list_and_wrong_documents(tmp_path):
    xml = copy_of(ICD_XML, tmp_path / "icd")
    codes = xml.parent / ICD_CODES.name
    edit_line(codes, 4, "A0.0 not a code")
    with pytest.raises(ImportFailed, match=rf"{codes.name} line 4"):
        loader.read_source(xml.parent)
    edit_line(codes, 4, "A000")
    edit_line(xml, 2, "<ICD10PCS.tabular>")
    edit_line(xml, _line_of(xml, "</ICD10CM.tabular>"), "</ICD10PCS.tabular>")
    with pytest.raises(ImportFailed, match="not the ICD-10-CM tabular list"):
        loader.read_source(xml.parent)
    with pytest.raises(ImportFailed, match="neither"):
        loader.read_source(tmp_path / "missing")


@pytest.mark.parametrize(
    "number, text, message",
    [
        (3, "00003 A009    2 Cholera, unspecified", "the flag in column 15"),
        (3, "00003 A00.9   1 Cholera, unspecified", "is not an ICD-10-CM code"),
        (3, "00003 A000    1 Cholera again", "listed twice"),
        (1, "A00     0 Cholera", "not a row of the ICD-10-CM order file"),
    ],
)
def test_broken_order_file_names_file_and_line(tmp_path, codeset_db, number, text, message):
    order = copy_of(ICD_ORDER, tmp_path / "icd")
    edit_line(order, number, text)
    before = dump(codeset_db)
    with pytest.raises(ImportFailed) as failure:
        loader.import_tabular(Store(codeset_db), order.parent)
    assert f"{order.name} line {number}: " in str(failure.value)
    assert message in str(failure.value)
    assert dump(codeset_db) == before


def test_a_failed_import_keeps_the_stored_year(tmp_path, codeset_db):
    """Re-importing the same year from a broken file leaves the earlier import as it was."""
    xml = copy_of(ICD_XML, tmp_path / "icd")
    edit_line(xml, _line_of(xml, "<name>B20</name>"), "        <name>b20</name>")
    before = dump(codeset_db)
    with pytest.raises(ImportFailed):
        loader.import_tabular(Store(codeset_db), xml.parent)
    assert dump(codeset_db) == before


# -- served over FHIR --------------------------------------------------------------------------


def test_lookup_gives_parent_children_and_notes(codeset_client):
    body = lookup(codeset_client, "E11")
    props = properties(body)
    assert param_dict(body)["display"] == ["Type 2 diabetes mellitus"]
    assert props["parent"] == ["E08-E13"]
    assert props["child"] == ["E11.6", "E11.9"]
    assert props["billable"] == [False]
    assert props["excludes1"] == ["diabetes mellitus due to underlying condition (E08.-)",
                                  "gestational diabetes (O24.4-)"]
    leaf = properties(lookup(codeset_client, "E11.9"))
    assert leaf["parent"] == ["E11"] and "child" not in leaf and leaf["billable"] == [True]
    assert properties(lookup(codeset_client, "S72.001A"))["parent"] == ["S72.001"]


def test_chapters_and_blocks_are_abstract_and_apart_from_codes(codeset_client):
    chapter = lookup(codeset_client, "4")
    assert param_dict(chapter)["abstract"] == [True]
    assert properties(chapter)["child"] == ["E08-E13"]
    block = lookup(codeset_client, "B20-B20")
    assert param_dict(block)["abstract"] == [True]
    assert properties(block)["parent"] == ["1"] and properties(block)["child"] == ["B20"]
    category = lookup(codeset_client, "B20")
    assert param_dict(category)["abstract"] == [False]
    assert param_dict(category)["display"] == ["Human immunodeficiency virus [HIV] disease"]


def test_validate_code(codeset_client):
    def validate(code: str, **extra: str) -> dict:
        return param_dict(codeset_client.get(VALIDATE, query_string={
            "url": ICD, "code": code, **extra}).fhir)

    assert validate("E11.9")["result"] == [True]
    assert validate("E11.9", display="Type 2 diabetes mellitus without complications")[
        "result"] == [True]
    assert validate("E11.9", display="Diabetes")["result"] == [False]
    assert validate("S72.001A")["result"] == [True]
    assert validate("E119")["result"] == [False]  # FHIR's ICD-10-CM codes carry the dot
    assert validate("S06.1X7D")["result"] == [False]  # not in the release's order file
    assert validate("S72.001A", display="Fx unsp part of neck of right femur, init for clos fx")[
        "result"] == [True]  # the short description of the order file


def test_subsumes_across_chapters_blocks_and_codes(codeset_client):
    def outcome(a: str, b: str) -> str:
        body = codeset_client.get(SUBSUMES, query_string={"system": ICD, "codeA": a,
                                                      "codeB": b}).fhir
        return param_dict(body)["outcome"][0]

    assert outcome("4", "E11.641") == "subsumes"
    assert outcome("S72.001A", "19") == "subsumed-by"
    assert outcome("E11", "A00") == "not-subsumed"
    assert outcome("B20-B20", "B20") == "subsumes"


def test_is_a_value_set_follows_the_hierarchy(codeset_client):
    body = codeset_client.get(EXPAND, query_string={"url": f"{ICD}?fhir_vs=isa/E11.6",
                                                "excludeNested": "true"}).fhir
    codes = sorted(c["code"] for c in body["expansion"]["contains"])
    assert codes == ["E11.6", "E11.64", "E11.641", "E11.649", "E11.65"]


# -- the full code set, once -----------------------------------------------------------------


def test_full_icd10cm_from_the_package(tmp_path):
    """The whole FY2026 tabular list the package ships: 98,505 concepts, 74,719 billable."""
    store = Store(tmp_path / "tx.db")
    parsed = loader.import_tabular(store)
    assert parsed.version == "2026" and parsed.effective_date == "2026-04-01"
    assert len(parsed.concepts) == 98_505
    assert loader.billable_count(parsed) == 74_719
    info = next(i for i in store.code_systems() if i.url == ICD)
    assert info.count == 98_505
    e119 = store.concept(info.id, "E11.9")
    assert ("billable", True) in {(p.code, p.value) for p in e119.properties}
    assert store.concept(info.id, "S72.001A").display.endswith(
        "initial encounter for closed fracture")
    assert store.parents(info.id, "S72.001A") == ["S72.001"]
    assert store.search("e119", [info.id], 3)[0].code == "E11.9"
    found = [hit.code for hit in store.search("diabetes", [info.id], 20)]
    assert len(found) == 20
    # the category whose own term is the word ("diabetes NOS", an includes note of E11) first
    assert found[:2] == ["E11", "E10"] and found.index("E11") < found.index("E23.2")
    assert [hit.code for hit in store.search("fracture femur", [info.id], 3)][0] == "S72"
    con = sqlite3.connect(store.path)
    assert con.execute("SELECT count(*) FROM concept_link").fetchone()[0] == 98_505 - 22
    con.close()
    # every code has the shape the order file's rows are read with (C4A, QA0, S06.1X7A)
    codes = [c.code.replace(".", "") for c in parsed.concepts
             if ("kind", "chapter") not in {(p.code, p.value) for p in c.properties}
             and "-" not in c.code]
    assert len(codes) == 98_186 and all(loader.ORDER_CODE_SHAPE.match(code) for code in codes)
