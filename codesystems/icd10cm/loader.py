"""Importer of the ICD-10-CM tabular list (the CDC/CMS XML), by default the file shipped by the
`simple-icd-10-cm` package, so the full current code set needs no download.

`read_tabular` is pure parsing: chapters, blocks and codes with their hierarchy and notes, and
the codes made with a 7th character (a `sevenChrDef` applies to its code and everything below
it, the nearest one winning; a code with nothing below it in such a scope is not billable, its
billable codes are it padded with X to six characters plus the 7th character, kept only when the
release's code list has them). `import_tabular` then stores it all in one transaction.
"""

from __future__ import annotations

import importlib.util
import re
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

from codesystems.icd10cm import definition as icd
from codesystems.sources import (
    ParsedCodeSystem,
    Progress,
    fiscal_year_start,
    numbered_lines,
    store_code_system,
)
from terminology.errors import ImportFailed
from terminology.model import Concept, Property
from terminology.store import Store

PACKAGE = "simple_icd_10_cm"
CODE_SHAPE = re.compile(r"^[A-Z][0-9A-Z]{2}(\.[0-9A-Z]{1,4})?$")
LIST_CODE_SHAPE = re.compile(r"^[0-9A-Z]{1,7}(-[0-9A-Z]{3})?$")
NOTE_TAGS = tuple(code for code, _ in icd.NOTE_KINDS)
MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"), start=1)}
DATED_NAME = re.compile(r"([A-Za-z]+)-([0-9]{1,2})-([0-9]{4})")


@dataclass
class Node:
    """One XML element with the line it starts on (ElementTree forgets lines)."""

    tag: str
    line: int
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def first(self, tag: str) -> Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def all(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def child_text(self, tag: str) -> str:
        found = self.first(tag)
        return " ".join(found.text.split()) if found is not None else ""


def parse_xml(path: Path) -> Node:
    """The document as Nodes; a malformed document raises ImportFailed with its line."""
    root = Node("", 0, {})
    stack = [root]
    parser = xml.parsers.expat.ParserCreate()

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = Node(tag, parser.CurrentLineNumber, attrs)
        stack[-1].children.append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        stack[-1].text += data

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.buffer_text = True
    try:
        with open(path, "rb") as handle:
            parser.ParseFile(handle)
    except xml.parsers.expat.ExpatError as exc:
        raise ImportFailed(f"{path.name} line {exc.lineno}: not well-formed XML "
                           f"({xml.parsers.expat.ErrorString(exc.code)})") from None
    except OSError as exc:
        raise ImportFailed(f"{path}: cannot be read ({exc.strerror})") from None
    if not root.children:
        raise ImportFailed(f"{path.name}: no XML document")
    return root.children[0]


# -- locating the source files ----------------------------------------------------------------


def package_folder() -> Path:
    """The data folder of the installed simple-icd-10-cm package, found without importing the
    package (its import reads the whole code set, which takes a second and a half)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportFailed("the simple-icd-10-cm package is not installed: "
                           "pip install simple-icd-10-cm, or give the tabular XML")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def find_sources(path: Path | None = None) -> tuple[Path, Path | None]:
    """(tabular XML, code list or None) from a file, a folder, or the package by default."""
    folder = package_folder() if path is None else Path(path)
    if folder.is_file():
        xml_path, folder = folder, folder.parent
    else:
        if not folder.is_dir():
            raise ImportFailed(f"{folder} is neither the ICD-10-CM tabular XML nor a folder")
        found = sorted(p for p in folder.iterdir()
                       if p.suffix.lower() == ".xml" and "tabular" in p.name.lower())
        if not found:
            raise ImportFailed(f"no ICD-10-CM tabular XML (*tabular*.xml) in {folder}")
        xml_path = found[-1]
    lists = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".txt" and (
        "code-list" in p.name.lower() or re.match(r"icd10cm[_-]codes", p.name.lower())))
    return xml_path, (lists[-1] if lists else None)


def read_code_list(path: Path) -> set[str]:
    """Codes without dots, the first word of each line (simple-icd-10-cm's list, or CMS's
    icd10cm_codes_YYYY.txt)."""
    codes: set[str] = set()
    for where, line in numbered_lines(path):
        token = line.split()[0]
        if not LIST_CODE_SHAPE.match(token):
            raise ImportFailed(f"{where}: {token[:20]!r} is not an ICD-10-CM "
                               "code (the first word of a line is the code, without its dot)")
        codes.add(token)
    return codes


def effective_date_of(path: Path, version: str) -> str | None:
    """`icd10cm-tabular-April-1-2026.xml` took effect on 2026-04-01; otherwise the fiscal year
    starts on 1 October of the year before."""
    dated = DATED_NAME.search(path.name)
    if dated and dated.group(1).lower() in MONTHS:
        month, day, year = MONTHS[dated.group(1).lower()], int(dated.group(2)), dated.group(3)
        return f"{year}-{month:02d}-{day:02d}"
    return fiscal_year_start(version)


# -- parsing ----------------------------------------------------------------------------------


class _Reader:
    """Walks the tabular list, collecting concepts and links in document order."""

    def __init__(self, path: Path, code_list: set[str] | None) -> None:
        self.path = path
        self.code_list = code_list
        self.concepts: list[Concept] = []
        self.links: list[tuple[str, str]] = []
        self.seen: dict[str, int] = {}
        self.skipped = 0

    def fail(self, node: Node, message: str) -> ImportFailed:
        return ImportFailed(f"{self.path.name} line {node.line}: {message}")

    def add(self, node: Node, code: str, display: str, parent: str | None,
            properties: list[Property]) -> None:
        if code in self.seen:
            raise self.fail(node, f"{code} is listed twice (first on line {self.seen[code]})")
        self.seen[code] = node.line
        self.concepts.append(Concept(code=code, display=display, properties=tuple(properties)))
        if parent is not None:
            self.links.append((parent, code))

    def notes(self, node: Node) -> list[Property]:
        out = []
        for child in node.children:
            if child.tag in NOTE_TAGS:
                out += [Property(child.tag, " ".join(n.text.split()), "string")
                        for n in child.all("note") if n.text.strip()]
        return out

    def chapter(self, node: Node) -> None:
        number, desc = node.child_text("name"), node.child_text("desc")
        if not number or not desc:
            raise self.fail(node, "a chapter needs a <name> (its number) and a <desc>")
        self.add(node, number, desc, None, _grouping("chapter") + self.notes(node))
        for section in node.all("section"):
            self.section(section, number)

    def section(self, node: Node, chapter: str) -> None:
        ident, desc = node.attrs.get("id", "").strip(), node.child_text("desc")
        if not ident or not desc:
            raise self.fail(node, "a section needs an id attribute and a <desc>")
        block = ident if "-" in ident else f"{ident}-{ident}"
        self.add(node, block, desc, chapter, _grouping("block") + self.notes(node))
        for diag in node.all("diag"):
            self.diag(diag, block, None, None)

    def diag(self, node: Node, parent: str, parent_code: str | None,
             seventh: list[tuple[str, str]] | None) -> None:
        code, desc = node.child_text("name"), node.child_text("desc")
        if not code or not desc:
            raise self.fail(node, "a <diag> needs a <name> (the code) and a <desc>")
        if not CODE_SHAPE.match(code):
            raise self.fail(node, f"{code[:20]!r} is not an ICD-10-CM code (A00, E11.9, ...)")
        if parent_code is not None and not code.startswith(parent_code):
            raise self.fail(node, f"{code} is listed below {parent_code}, which it does not "
                                  "extend")
        own = node.first("sevenChrDef")
        if own is not None:
            seventh = []
            for ext in own.all("extension"):
                char, text = ext.attrs.get("char", ""), " ".join(ext.text.split())
                if len(char) != 1 or not text:
                    raise self.fail(ext, "a 7th-character <extension> needs a one-character "
                                         "char attribute and a text")
                seventh.append((char, text))
        below = node.all("diag")
        billable = not below and seventh is None
        kind = "category" if len(code) == 3 else "code"
        self.add(node, code, desc, parent, [Property("kind", kind, "code"),
                                            Property("billable", billable, "boolean"),
                                            *self.notes(node)])
        for child in below:
            self.diag(child, code, code, seventh)
        if not below and seventh:
            self.extend(node, code, desc, seventh)

    def extend(self, node: Node, code: str, desc: str, seventh: list[tuple[str, str]]) -> None:
        """The billable codes made from a code and each 7th character the release lists."""
        stem = code.replace(".", "").ljust(6, "X")
        for char, text in seventh:
            plain = stem + char
            if self.code_list is not None and plain not in self.code_list:
                self.skipped += 1
                continue
            self.add(node, f"{plain[:3]}.{plain[3:]}", f"{desc}, {text}", code,
                     [Property("kind", "code", "code"), Property("billable", True, "boolean")])


def _grouping(kind: str) -> list[Property]:
    return [Property("kind", kind, "code"), Property("billable", False, "boolean"),
            Property("notSelectable", True, "boolean")]


def read_tabular(xml_path: Path, code_list_path: Path | None = None,
                 version: str | None = None) -> ParsedCodeSystem:
    """Parse the tabular XML (and the code list that says which 7th-character codes exist)."""
    xml_path = Path(xml_path)
    code_list = read_code_list(Path(code_list_path)) if code_list_path else None
    root = parse_xml(xml_path)
    if root.tag != "ICD10CM.tabular":
        raise ImportFailed(f"{xml_path.name} line {root.line}: <{root.tag}> is not the "
                           "ICD-10-CM tabular list (<ICD10CM.tabular>)")
    version = version or root.child_text("version")
    if not re.fullmatch(r"[0-9]{4}", version or ""):
        raise ImportFailed(f"{xml_path.name}: no fiscal year in <version> ({version!r}); "
                           "give the version (e.g. 2026)")
    reader = _Reader(xml_path, code_list)
    chapters = root.all("chapter")
    if not chapters:
        raise ImportFailed(f"{xml_path.name}: no <chapter> in the tabular list")
    for chapter in chapters:
        reader.chapter(chapter)
    warnings = []
    if code_list is None:
        warnings.append("no code list found: every 7th-character combination was kept")
    effective = effective_date_of(xml_path, version)
    return ParsedCodeSystem(
        url=icd.URL,
        version=version,
        resource_id=icd.resource_id(version),
        resource=icd.code_system_resource(version, effective, len(reader.concepts)),
        concepts=reader.concepts,
        links=reader.links,
        provider=icd.PROVIDER_KEY,
        effective_date=effective,
        files=[xml_path.name] + ([Path(code_list_path).name] if code_list_path else []),
        warnings=warnings,
        indexed_properties=("kind", "billable", "notSelectable"),
    )


def read_source(path: Path | None = None, version: str | None = None) -> ParsedCodeSystem:
    """Parse the tabular list at `path` (a file or folder), by default the package's."""
    xml_path, code_list = find_sources(path)
    return read_tabular(xml_path, code_list, version)


def import_tabular(store: Store, path: Path | None = None, version: str | None = None,
                   progress: Progress | None = None) -> ParsedCodeSystem:
    """Parse, then store in one transaction. Raises ImportFailed (nothing changed)."""
    parsed = read_source(path, version)
    store_code_system(store, parsed, progress)
    return parsed


def billable_count(parsed: ParsedCodeSystem) -> int:
    return sum(1 for c in parsed.concepts
               if any(p.code == "billable" and p.value is True for p in c.properties))
