"""Which files of an ICD-10-CM release to read, chosen by what each file is, never by the order
its name sorts in.

CDC and CMS ship the release as zips (code descriptions; tables and index) whose files are named
differently from year to year (`icd10cm_order_2026.txt`, `icd10cm-order-2026.txt`,
`icd10cm-order-April-1-2026.txt`). Three of them are read: the tabular list (XML, root
`<ICD10CM.tabular>`), the order file (every code, fixed width) and the code list (the billable
codes, `icd10cm_codes_YYYY.txt`, or the simple-icd-10-cm package's list). A name tells them apart
(`tabular`, `order`, `codes` / `code-list`); a file whose name does not is told by its content
(its XML root, the shape of its first line). Addenda (the changes since the previous release),
the index, the drug and neoplasm tables, PDFs and files of another year are not read; the summary
names each with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from codesystems.order_file import is_order_line
from codesystems.sources import first_line, year_in_name
from terminology.errors import ImportFailed

TABULAR, ORDER, CODE_LIST = "tabular list", "order file", "code list"
XML_ROOT = re.compile(rb"<(?![?!])([A-Za-z_][\w.:-]*)")
XML_VERSION = re.compile(rb"<version>\s*([0-9]{4})\s*</version>")
CHANGE_LINE = re.compile(r"^\s*(Add|Delete|Revise)\b")
CODE_LIST_LINE = re.compile(r"^(?:[0-9]{1,2}|[A-Z][0-9][0-9A-Z]{1,5})(?:\s|$)")
ADDENDA = "addenda: the changes since the previous release, not the release itself"


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
    ignored: list[str] = field(default_factory=list)  # "NAME: why it is not read"


def _xml_head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(4096)


def what_is(path: Path) -> Found | str:
    """The role of a file in a release, or why it has none."""
    name, suffix = path.name.lower(), path.suffix.lower()
    if "addenda" in name:
        return ADDENDA
    if "pcs" in name:
        return "ICD-10-PCS (import it with `txserver import icd10pcs`), not ICD-10-CM"
    if suffix == ".xml":
        head = _xml_head(path)
        root = XML_ROOT.search(head)
        version = XML_VERSION.search(head)
        year = version.group(1).decode() if version else year_in_name(path.name)
        if "tabular" in name or (root and root.group(1) == b"ICD10CM.tabular"):
            return Found(path, TABULAR, year)
        if root and root.group(1) == b"ICD10CM.index":
            return "an index of the tabular list (<ICD10CM.index>), not imported"
        tag = root.group(1).decode(errors="replace") if root else "none"
        return f"XML, not the tabular list (its root element is <{tag}>)"
    if suffix != ".txt":
        return f"not a file the importer reads ({suffix or 'no extension'})"
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


def _files(folder: Path, recursive: bool) -> list[Path]:
    """The files of a folder (and its subfolders: the zips unpack into folders of their own),
    leaving out hidden files and Python's package internals (`__init__.py`, `__pycache__`)."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and not any(
        part.startswith((".", "__")) for part in p.relative_to(folder).parts))


def _only(found: list[Found], kind: str, where: Path) -> Path | None:
    if len(found) > 1:
        names = ", ".join(str(f.path.relative_to(where)) for f in found)
        raise ImportFailed(f"{where}: more than one {kind} ({names}); give the one to read, "
                           "or --version")
    return found[0].path if found else None


def find_release(path: Path, version: str | None = None) -> Release:
    """The files to read from `path`: a folder (searched with its subfolders), or one file of a
    release (read, with the files beside it)."""
    path = Path(path)
    if path.is_file():
        given, folder, files = path, path.parent, _files(path.parent, recursive=False)
    elif path.is_dir():
        given, folder, files = None, path, _files(path, recursive=True)
    else:
        raise ImportFailed(f"{path} is neither an ICD-10-CM file nor a folder")
    ignored: list[str] = []
    found: list[Found] = []
    for file in files:
        role = what_is(file)
        name = str(file.relative_to(folder))
        if isinstance(role, str):
            if file == given:
                raise ImportFailed(f"{file.name}: {role}")
            ignored.append(f"{name}: {role}")
        else:
            found.append(role)
    if given is not None:  # the file given wins its role over the others beside it
        mine = next(f for f in found if f.path == given)
        for other in [f for f in found if f.kind == mine.kind and f.path != given]:
            found.remove(other)
            ignored.append(f"{other.path.name}: another {other.kind}; {given.name} was given")
    tabulars = [f for f in found if f.kind == TABULAR]
    if version and len(tabulars) > 1:
        tabulars = [f for f in tabulars if f.year == version]
    tabular = _only(tabulars, TABULAR, folder)
    year = version or next((f.year for f in found if f.path == tabular), None) or next(
        (f.year for f in found if f.kind == ORDER and f.year), None)
    chosen: dict[str, Path | None] = {}
    for kind in (ORDER, CODE_LIST):
        of_kind = [f for f in found if f.kind == kind]
        same_year = [f for f in of_kind if f.year in (None, year) or year is None]
        ignored += [f"{f.path.relative_to(folder)}: a {kind} for {f.year}, not {year}"
                    for f in of_kind if f not in same_year]
        chosen[kind] = _only(same_year, kind, folder)
    return Release(tabular, chosen[ORDER], chosen[CODE_LIST], year, ignored)
