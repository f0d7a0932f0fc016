"""Importer of an ICD-10-CM release (CDC/CMS): the tabular list (XML), with the order file for
the short descriptions and to say which 7th-character codes exist; by default the files shipped
by the `simple-icd-10-cm` package, so the full current code set needs no download.

`read_tabular` is pure parsing: chapters, blocks and codes with their hierarchy and notes, and
the codes made with a 7th character (a `sevenChrDef` applies to its code and everything below
it, the nearest one winning; a code with nothing below it in such a scope is not billable, its
billable codes are it padded with X to six characters plus the 7th character, kept only when the
release's order file or code list has them: a few combinations do not exist). Without a tabular
list, `read_order_only` takes the codes from the order file alone. `release.find_release` picks
the files of a folder; `import_tabular` parses and stores it all in one transaction.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

from codesystems import order_file
from codesystems.icd10cm import definition as icd
from codesystems.icd10cm.index import IndexTerms, read_index
from codesystems.icd10cm.release import Release, find_release
from codesystems.order_file import OrderFile
from codesystems.sources import (
    ParsedCodeSystem,
    Progress,
    fiscal_year_start,
    numbered,
    read_text,
    store_code_system,
    unpacked,
    year_in_name,
)
from terminology.errors import ImportFailed
from terminology.model import Concept, Designation, Property
from terminology.store import Store

PACKAGE = "simple_icd_10_cm"
CODE_SHAPE = re.compile(r"^[A-Z][0-9A-Z]{2}(\.[0-9A-Z]{1,4})?$")
LIST_CODE_SHAPE = re.compile(r"^[0-9A-Z]{1,7}(-[0-9A-Z]{3})?$")
ORDER_CODE_SHAPE = re.compile(r"^[A-Z][0-9A-Z]{2,6}$")  # without the dot (C4A, QA0, E119)
EXAMPLES = 5  # codes named in a summary line
INDEXED = ("kind", "billable", "notSelectable")
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


@dataclass(frozen=True, slots=True)
class CodeList:
    name: str
    codes: set[str]  # without dots
    encoding: str


def read_code_list(path: Path) -> CodeList:
    """Codes without dots, the first word of each line (simple-icd-10-cm's list, or CMS's
    icd10cm_codes_YYYY.txt: the code in columns 1-7, its long description from 9)."""
    path = Path(path)
    lines, encoding = read_text(path)
    codes: set[str] = set()
    for where, line in numbered(path, lines):
        token = line.split()[0]
        if not LIST_CODE_SHAPE.match(token):
            raise ImportFailed(f"{where}: {token[:20]!r} is not an ICD-10-CM "
                               "code (the first word of a line is the code, without its dot)")
        codes.add(token)
    return CodeList(path.name, codes, encoding)


def read_order(path: Path) -> OrderFile:
    return order_file.read_order_file(path, ORDER_CODE_SHAPE, "ICD-10-CM")


def dotted(code: str) -> str:
    """E119 -> E11.9: FHIR's ICD-10-CM codes carry the dot the CMS files leave out."""
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code


def _examples(codes: list[str] | set[str]) -> str:
    shown = sorted(codes)[:EXAMPLES]
    return ", ".join(shown) + (", ..." if len(codes) > EXAMPLES else "")


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

    def __init__(self, path: Path, listed: set[str] | None) -> None:
        self.path = path
        self.listed = listed  # the codes (without dots) that exist, when a list says so
        self.concepts: list[Concept] = []
        self.links: list[tuple[str, str]] = []
        self.seen: dict[str, int] = {}
        self.dropped: list[str] = []  # 7th-character combinations the list does not have

    def fail(self, node: Node, message: str) -> ImportFailed:
        return ImportFailed(f"{self.path.name} line {node.line}: {message}")

    def add(self, node: Node, code: str, display: str, parent: str | None,
            properties: list[Property], designations: tuple[Designation, ...] = ()) -> None:
        if code in self.seen:
            raise self.fail(node, f"{code} is listed twice (first on line {self.seen[code]})")
        self.seen[code] = node.line
        self.concepts.append(Concept(code=code, display=display, properties=tuple(properties),
                                     designations=designations))
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
        notes = self.notes(node)
        self.add(node, code, desc, parent, [Property("kind", kind, "code"),
                                            Property("billable", billable, "boolean"), *notes],
                 _inclusions(notes))
        for child in below:
            self.diag(child, code, code, seventh)
        if not below and seventh:
            self.extend(node, code, desc, seventh)

    def extend(self, node: Node, code: str, desc: str, seventh: list[tuple[str, str]]) -> None:
        """The billable codes made from a code and each 7th character the release lists."""
        stem = code.replace(".", "").ljust(6, "X")
        for char, text in seventh:
            plain = stem + char
            if self.listed is not None and plain not in self.listed:
                self.dropped.append(dotted(plain))
                continue
            self.add(node, dotted(plain), f"{desc}, {text}", code,
                     [Property("kind", "code", "code"), Property("billable", True, "boolean")])


def _inclusions(notes: list[Property]) -> tuple[Designation, ...]:
    """A code's inclusion terms and includes notes, as searchable designations (each once)."""
    values = dict.fromkeys(str(p.value) for p in notes if p.code in icd.INCLUSION_NOTES)
    return tuple(Designation(value, "en", icd.INCLUSION) for value in values)


def _grouping(kind: str) -> list[Property]:
    return [Property("kind", kind, "code"), Property("billable", False, "boolean"),
            Property("notSelectable", True, "boolean")]


def _kind(concept: Concept) -> str:
    return next(str(p.value) for p in concept.properties if p.code == "kind")


def _billable(concept: Concept) -> bool:
    return any(p.code == "billable" and p.value is True for p in concept.properties)


def _with_short_descriptions(concepts: list[Concept], order: OrderFile) -> list[Concept]:
    """The order file's short description of each code, as a designation (when it is not the
    display itself)."""
    short = {dotted(row.code): row.short for row in order.rows}
    return [dataclasses.replace(c, designations=(Designation(short[c.code], "en", icd.SHORT),
                                                 *c.designations))
            if short.get(c.code) and short[c.code] != c.display else c for c in concepts]


def _disagreements(concepts: list[Concept], order: OrderFile | None,
                   code_list: CodeList | None) -> list[str]:
    """Where the order file or code list and the tabular list do not tell the same codes (files
    of different releases, or a damaged one), for the summary's warnings."""
    codes = {c.code.replace(".", ""): _billable(c) for c in concepts
             if _kind(c) in ("category", "code")}
    out = []
    if order is not None:
        flags = {row.code: row.valid for row in order.rows}
        for missing, what in ((set(codes) - set(flags), f"not in {order.name}"),
                              (set(flags) - set(codes), (f"of {order.name} not in the tabular "
                                                         "list (not imported)"))):
            if missing:
                out.append(f"{len(missing):,} codes {what}: {_examples(missing)}")
        differ = {code for code in set(codes) & set(flags) if codes[code] != flags[code]}
        if differ:
            out.append(f"{len(differ):,} codes billable in one of the tabular list and "
                       f"{order.name} but not in the other: {_examples(differ)}")
    if code_list is not None:
        unlisted = {code for code, billable in codes.items() if billable} - code_list.codes
        if unlisted:
            out.append(f"{len(unlisted):,} billable codes not in {code_list.name}: "
                       f"{_examples(unlisted)}")
    return out


def _with_index_terms(concepts: list[Concept], index: IndexTerms) -> list[Concept]:
    """Each code's Alphabetic Index terms as designations (use `index`), after its own."""
    out = []
    for c in concepts:
        terms = index.terms.get(c.code)
        if terms:
            have = {" ".join(v.casefold().split()) for v in
                    [c.display or "", *(d.value for d in c.designations)]}
            extra = tuple(Designation(t, "en", icd.INDEX_TERM) for t in terms
                          if " ".join(t.casefold().split()) not in have)
            c = dataclasses.replace(c, designations=c.designations + extra)
        out.append(c)
    return out


def read_tabular(xml_path: Path, code_list_path: Path | None = None,
                 version: str | None = None, order_path: Path | None = None,
                 index_paths: list[Path] | None = None) -> ParsedCodeSystem:
    """Parse the tabular XML, with the order file (short descriptions; which 7th-character codes
    exist), the code list (which do, when there is no order file) and the Alphabetic Index
    (index terms as designations), when given."""
    xml_path = Path(xml_path)
    order = read_order(Path(order_path)) if order_path else None
    code_list = read_code_list(Path(code_list_path)) if code_list_path else None
    root = parse_xml(xml_path)
    if root.tag != "ICD10CM.tabular":
        raise ImportFailed(f"{xml_path.name} line {root.line}: <{root.tag}> is not the "
                           "ICD-10-CM tabular list (<ICD10CM.tabular>)")
    version = version or root.child_text("version")
    if not re.fullmatch(r"[0-9]{4}", version or ""):
        raise ImportFailed(f"{xml_path.name}: no fiscal year in <version> ({version!r}); "
                           "give the version (e.g. 2026)")
    listing = order.name if order else code_list.name if code_list else None
    listed = {row.code for row in order.rows} if order else code_list.codes if code_list \
        else None
    reader = _Reader(xml_path, listed)
    chapters = root.all("chapter")
    if not chapters:
        raise ImportFailed(f"{xml_path.name}: no <chapter> in the tabular list")
    for chapter in chapters:
        reader.chapter(chapter)
    concepts = _with_short_descriptions(reader.concepts, order) if order else reader.concepts
    indexes = [read_index(path, {c.code for c in concepts}) for path in index_paths or []]
    for index in indexes:
        concepts = _with_index_terms(concepts, index)
    kinds = [_kind(c) for c in concepts]
    chapters_n, blocks_n = kinds.count("chapter"), kinds.count("block")
    codes_n, billable_n = len(concepts) - chapters_n - blocks_n, sum(map(_billable, concepts))
    read = [f"{xml_path.name}: tabular list, {chapters_n} chapters, {blocks_n} blocks, "
            + f"{codes_n:,} codes ({billable_n:,} billable)"]
    if order is not None:
        read.append(order.describe() + ": the short descriptions, and which 7th-character "
                    "codes exist")
    if code_list is not None:
        use = "checked against the tabular list" if order else "which 7th-character codes exist"
        read.append(f"{code_list.name}: code list, {len(code_list.codes):,} codes, "
                    f"{code_list.encoding}: {use}")
    read += [index.read for index in indexes]
    skipped = [line for index in indexes for line in index.skipped]
    if reader.dropped:
        skipped.append(f"{len(reader.dropped):,} 7th-character combinations that {listing} does "
                       f"not list (they do not exist): {_examples(reader.dropped)}")
    warnings = _disagreements(concepts, order, code_list)
    if listed is None:
        warnings.append("no order file or code list found: every 7th-character combination "
                        "was kept, a few of which do not exist")
    effective = effective_date_of(xml_path, version)
    return ParsedCodeSystem(
        url=icd.URL,
        version=version,
        resource_id=icd.resource_id(version),
        resource=icd.code_system_resource(version, effective, len(concepts)),
        concepts=concepts,
        links=reader.links,
        provider=icd.PROVIDER_KEY,
        effective_date=effective,
        files=[xml_path.name] + [f.name for f in (order, code_list) if f is not None]
        + [index.name for index in indexes],
        warnings=warnings,
        indexed_properties=INDEXED,
        read=read,
        skipped=skipped,
    )


def read_order_only(order_path: Path, version: str | None = None) -> ParsedCodeSystem:
    """The codes of the order file alone (a release folder without the tabular list): every
    code with its long and short descriptions, below the longest code it starts with; no
    chapters, blocks or notes."""
    order_path = Path(order_path)
    given = version or year_in_name(order_path.name)
    if given is None or not re.fullmatch(r"[0-9]{4}", given):
        raise ImportFailed(f"{order_path.name}: no fiscal year in the file name; give the "
                           "version (e.g. 2026)")
    version = given
    order = read_order(order_path)
    concepts = [Concept(
        code=dotted(row.code), display=row.long or row.short,
        properties=(Property("kind", "category" if len(row.code) == 3 else "code", "code"),
                    Property("billable", row.valid, "boolean")))
        for row in order.rows]
    links = [(dotted(parent), dotted(child))
             for parent, child in order_file.parent_links([row.code for row in order.rows])]
    effective = effective_date_of(order_path, version)
    return ParsedCodeSystem(
        url=icd.URL,
        version=version,
        resource_id=icd.resource_id(version),
        resource=icd.code_system_resource(version, effective, len(concepts), tabular=False),
        concepts=_with_short_descriptions(concepts, order),
        links=links,
        provider=icd.PROVIDER_KEY,
        effective_date=effective,
        files=[order.name],
        warnings=[("no tabular list (icd10cm_tabular_YYYY.xml): the codes have no chapters, "
                  "blocks or notes; import the folder with the tabular list for those")],
        indexed_properties=INDEXED,
        read=[order.describe() + ": the codes, with their long and short descriptions"],
    )


def read_source(path: Path | list[Path] | None = None,
                version: str | None = None) -> ParsedCodeSystem:
    """Parse the release at `path`: folders, zips as CDC/CMS ship them, or files of a release;
    by default the package's files."""
    paths = [package_folder()] if path is None else path if isinstance(path, list) else [path]
    with unpacked(paths) as folders:
        return _read_release(find_release(folders, version), version, paths)


def _read_release(release: Release, version: str | None, paths: list[Path]) -> ParsedCodeSystem:
    if release.tabular is not None:
        parsed = read_tabular(release.tabular, release.code_list, version, release.order,
                              release.indexes)
    elif release.order is not None:
        parsed = read_order_only(release.order, version or release.year)
        release.ignored += [f"{path.name}: an index, read only with the tabular list"
                            for path in release.indexes]
        if release.code_list is not None:
            release.ignored.append(f"{release.code_list.name}: code list, not needed with the "
                                   "order file when there is no tabular list")
    else:
        raise ImportFailed(f"{', '.join(map(str, paths))}: no ICD-10-CM tabular list "
                           "(icd10cm_tabular_YYYY.xml) or order file (icd10cm_order_YYYY.txt)")
    parsed.ignored = release.ignored
    return parsed


def import_tabular(store: Store, path: Path | list[Path] | None = None,
                   version: str | None = None,
                   progress: Progress | None = None) -> ParsedCodeSystem:
    """Parse, then store in one transaction. Raises ImportFailed (nothing changed)."""
    parsed = read_source(path, version)
    store_code_system(store, parsed, progress)
    return parsed


def billable_count(parsed: ParsedCodeSystem) -> int:
    return sum(1 for c in parsed.concepts if _billable(c))
