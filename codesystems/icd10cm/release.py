"""Which files of an ICD-10-CM release to read, chosen by what each file is, never by the order
its name sorts in.

CDC and CMS ship the release as zips (code descriptions; tables and index) whose files are named
differently from year to year (`icd10cm_order_2026.txt`, `icd10cm-order-2026.txt`,
`icd10cm-order-April-1-2026.txt`). Three of them are read: the tabular list (XML, root
`<ICD10CM.tabular>`), the order file (every code, fixed width) and the code list (the billable
codes, `icd10cm_codes_YYYY.txt`, or the simple-icd-10-cm package's list). A name tells them apart
(`tabular`, `order`, `codes` / `code-list`); a file whose name does not is told by its content
(its XML root, the shape of its first line). The Alphabetic Index (`<ICD10CM.index>`: the
index to diseases and injuries, and the external cause index) is read too when it is there: its
terms become searchable designations. Addenda (the changes since the previous release), the drug
and neoplasm tables (also `<ICD10CM.index>`, but of `<cell>`s), PDFs and files of another year
are not read; the summary names each with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from codesystems.order_file import is_order_line
from codesystems.sources import ADDENDA, files_in, first_line, head, not_read, year_in_name
from terminology.errors import ImportFailed

TABULAR, ORDER, CODE_LIST, INDEX = "tabular list", "order file", "code list", "index"
TABLE_MARK = re.compile(rb"<(indexHeading|cell)\b")  # the neoplasm and drug tables
XML_ROOT = re.compile(rb"<(?![?!])([A-Za-z_][\w.:-]*)")
XML_VERSION = re.compile(rb"<version>\s*([0-9]{4})\s*</version>")
CHANGE_LINE = re.compile(r"^\s*(Add|Delete|Revise)\b")
CODE_LIST_LINE = re.compile(r"^(?:[0-9]{1,2}|[A-Z][0-9][0-9A-Z]{1,5})(?:\s|$)")


@dataclass(frozen=True, slots=True)
class Found:
    """A file that is one of the three an import reads."""

    path: Path
    kind: str
    year: str | None  # the tabular list's <version>, else the year in the name


@dataclass
class Release:
    tabular: Path | None
    order: Path | None
    code_list: Path | None
    year: str | None  # of the files chosen: the tabular list's <version>, or the names' year
    indexes: list[Path] = field(default_factory=list)  # the Alphabetic Index (and E-index)
    ignored: list[str] = field(default_factory=list)  # "NAME: why it is not read"


def what_is(path: Path) -> Found | str:
    """The role of a file in a release, or why it has none."""
    name, suffix = path.name.lower(), path.suffix.lower()
    if "addenda" in name:
        return ADDENDA
    if "pcs" in name:
        return "ICD-10-PCS (import it with `txserver import icd10pcs`), not ICD-10-CM"
    if suffix == ".xml":
        start = head(path, 4096)
        root = XML_ROOT.search(start)
        version = XML_VERSION.search(start)
        year = version.group(1).decode() if version else year_in_name(path.name)
        if "tabular" in name or (root and root.group(1) == b"ICD10CM.tabular"):
            return Found(path, TABULAR, year)
        if root and root.group(1) == b"ICD10CM.index":
            if TABLE_MARK.search(start):
                return ("a table of the index (neoplasms, or drugs and chemicals: <cell>s of "
                        "codes), not read")
            return Found(path, INDEX, year)
        tag = root.group(1).decode(errors="replace") if root else "none"
        return f"XML, not the tabular list (its root element is <{tag}>)"
    if suffix != ".txt":
        return not_read(path)
    year = year_in_name(path.name)
    if "order" in name:
        return Found(path, ORDER, year)
    if "codes" in name or re.search(r"code[-_ ]list", name):
        return Found(path, CODE_LIST, year)
    line = first_line(path)
    if is_order_line(line):
        return Found(path, ORDER, year)
    if CHANGE_LINE.match(line):
        return ADDENDA
    if CODE_LIST_LINE.match(line):
        return Found(path, CODE_LIST, year)
    return ("not a file of an ICD-10-CM release (its first line is neither an order-file row "
            "nor a code)")


def _only(found: list[Found], kind: str, label: dict[Path, str]) -> Path | None:
    if len(found) > 1:
        names = ", ".join(label[f.path] for f in found)
        raise ImportFailed(f"more than one {kind} ({names}); give the one to read, or --version")
    return found[0].path if found else None


def find_release(paths: list[Path], version: str | None = None) -> Release:
    """The files to read from `paths`: folders (searched with their subfolders: the two zips of a
    release unpack into two folders), or files of a release (read, with the files beside
    them)."""
    label: dict[Path, str] = {}  # each file's name as the summary gives it
    given: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            given.append(path)
            label.update((f, f.name) for f in files_in(path.parent, recursive=False))
        elif path.is_dir():
            label.update((f, str(f.relative_to(path))) for f in files_in(path))
        else:
            raise ImportFailed(f"{path} is neither an ICD-10-CM file nor a folder")
    ignored: list[str] = []
    found: list[Found] = []
    for file, name in label.items():
        role = what_is(file)
        if isinstance(role, Found):
            found.append(role)
        elif file in given:
            raise ImportFailed(f"{file.name}: {role}")
        else:
            ignored.append(f"{name}: {role}")
    for mine in [f for f in found if f.path in given]:  # a file given wins its role
        for other in [f for f in found if f.kind == mine.kind and f.path not in given]:
            found.remove(other)
            ignored.append(f"{label[other.path]}: another {other.kind}; {mine.path.name} was "
                           "given")
    tabulars = [f for f in found if f.kind == TABULAR]
    if version and len(tabulars) > 1:
        tabulars = [f for f in tabulars if f.year == version]
    tabular = _only(tabulars, TABULAR, label)
    year = version or next((f.year for f in found if f.path == tabular), None) or next(
        (f.year for f in found if f.kind == ORDER and f.year), None)
    chosen: dict[str, Path | None] = {}
    for kind in (ORDER, CODE_LIST):
        of_kind = [f for f in found if f.kind == kind]
        same_year = [f for f in of_kind if year is None or f.year in (None, year)]
        ignored += [f"{label[f.path]}: a {kind} for {f.year}, not {year}"
                    for f in of_kind if f not in same_year]
        chosen[kind] = _only(same_year, kind, label)
    indexes = [f for f in found if f.kind == INDEX]
    ignored += [f"{label[f.path]}: an index for {f.year}, not {year}"
                for f in indexes if year is not None and f.year not in (None, year)]
    kept = sorted(f.path for f in indexes if year is None or f.year in (None, year))
    return Release(tabular, chosen[ORDER], chosen[CODE_LIST], year, indexes=kept,
                   ignored=sorted(ignored))
