"""Importer for a licensed user's AMA CPT release folder (and for our sample in the same layout).

Pure parsing (`read_release`) is kept apart from storing (`store_release`): the whole folder is
parsed and checked first, then written in one transaction, so a broken file changes nothing.
What was read, what was missing and what was skipped is kept on the Release for the summary
the import prints (`Release.summary`), so a user can check it against the AMA's counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from codesystems.cpt import definition as cpt
from codesystems.cpt.files import (
    SourceFile,
    code_list,
    descriptor_rows,
    find,
    is_code_list_header,
    is_code_list_line,
    is_descriptor_line,
    is_table_header,
    is_table_row,
    read_source,
    table_rows,
)
from codesystems.cpt.modifiers import FILE_NAME as MODIFIER_FILE
from codesystems.cpt.modifier_table import FILE_NAME as MODIFIER_TABLE
from codesystems.cpt.modifier_table import merged, read_modifier_table
from codesystems.cpt.modifiers import SECTION_NAMES, read_modifier_file
from terminology.errors import ImportFailed
from terminology.model import Coding, Concept, Designation, Property
from terminology.store import Store

# name, designation use, layout (for the summary)
DESCRIPTOR_FILES = (
    ("LONGULT.txt", "display", "CODE<tab>long descriptor"),
    ("LONGUT.txt", "upper", "CODE<tab>long descriptor, upper case"),
    ("MEDU.txt", "med", "fixed width: code, space, medium descriptor"),
    ("SHORTU.txt", "short", "fixed width: code, space, short descriptor"),
)
CONSUMER_FILE = ("ConsumerDescriptor.txt", ("Consumer Friendly Descriptors",))
CLINICIAN_FILE = ("ClinicianDescriptor.txt", ("Clinician Descriptors",))
CONSUMER_COLUMNS = {
    "concept": ("Concept Id",),
    "code": ("CPT Code", "Code"),
    "text": ("Consumer Friendly Descriptor", "Consumer Descriptor", "Descriptor"),
}
CLINICIAN_COLUMNS = {
    "concept": ("Concept Id",),
    "code": ("CPT Code", "Code"),
    "id": ("Clinician Descriptor Id",),
    "text": ("Clinician Descriptor", "Descriptor"),
}
# The file names of the lists that not every release ships (cpt.RELEASE_LISTS), searched for
# in the folder and in its subfolders.
CODE_LISTS = {
    "telemedicine": ("TelemedicineCodes.txt", "AppendixP.txt", "Telemedicine.txt"),
    "orthopox": ("OrthopoxvirusCodes.txt", "Orthopoxvirus.txt"),
}

Progress = Callable[[int], None]


@dataclass(frozen=True)
class FileRead:
    """One file the import read: where, how, and how many rows."""

    label: str
    encoding: str
    notice_lines: int
    rows: int
    what: str


@dataclass
class Release:
    """One year's parsed CPT content, ready to store, and the account of how it was read."""

    version: str
    concepts: list[Concept]
    files: list[FileRead] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    absent_properties: tuple[str, ...] = ()
    sample: bool = False

    def summary(self) -> list[str]:
        """What a user checks against the AMA's own counts: rows per file, designations per
        kind, modifiers, what was missing and what was skipped, and why."""
        modifiers = [c for c in self.concepts if _is_modifier(c)]
        codes = len(self.concepts) - len(modifiers)
        uses = Counter(d.use.code for c in self.concepts if not _is_modifier(c)
                       for d in c.designations if d.use)
        out = [f"CPT {self.version}: {codes} codes and {len(modifiers)} modifiers"
               + (" (sample data)" if self.sample else "")]
        for f in self.files:
            notice = f", notice {f.notice_lines} lines" if f.notice_lines else ""
            out.append(f"  read {f.label}: {f.rows} rows ({f.what}; {f.encoding}{notice})")
        out.append("  designations of codes: " + ", ".join(f"{use} {n}" for use, n in uses.items()))
        kinds = Counter(k for m in modifiers for k in _kinds(m))
        if modifiers:
            out.append("  modifiers by kind: " + ", ".join(
                f"{kind} {kinds[kind]} ({SECTION_NAMES[kind]})" for kind in SECTION_NAMES
                if kinds[kind]))
        out += [f"  missing: {m}" for m in self.missing]
        if self.unread:
            out.append(f"  not read: {len(self.unread)} other files this importer does not use: "
                       + ", ".join(self.unread[:10]) + (" …" if len(self.unread) > 10 else ""))
        out += [f"  skipped: {s}" for s in self.skipped]
        return out


def _designation(use: str, value: str) -> Designation:
    return Designation(value=value, language="en", use=Coding(system=cpt.URL, code=use))


def _is_modifier(concept: Concept) -> bool:
    return any(p.code == "modifier" and p.value is True for p in concept.properties)


def _kinds(concept: Concept) -> list[str]:
    return [str(p.value) for p in concept.properties if p.code == "kind"]


class _Reader:
    """Reads one release folder file by file, keeping the account for the summary."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[FileRead] = []
        self.missing: list[str] = []
        self.skipped: list[str] = []

    def done(self, source: SourceFile, rows: int, what: str) -> None:
        self.files.append(FileRead(source.label, source.encoding, source.notice_lines, rows, what))

    def skip(self, what: str, items: list[str]) -> None:
        """Count rows left out because their code is not in LONGULT.txt (the first ten named)."""
        if items:
            self.skipped.append(f"{len(items)} {what} for codes not in LONGULT.txt: "
                                + ", ".join(items[:10]) + (" …" if len(items) > 10 else ""))

    def unread(self) -> list[str]:
        """The text files of the folder and its subfolders that were not read (README aside)."""
        read = {f.label for f in self.files}
        labels = sorted(p.relative_to(self.folder).as_posix()
                        for p in self.folder.rglob("*") if p.is_file()
                        and p.suffix.lower() == ".txt")
        return [label for label in labels
                if label not in read and Path(label).name.lower() != "readme.txt"]

    def descriptors(self, name: str, use: str, layout: str) -> dict[str, str]:
        path = find(self.folder, name)
        if path is None:
            if use == "display":
                raise ImportFailed(f"LONGULT.txt not found in {self.folder}: it holds the CPT "
                                   "descriptors")
            self.missing.append(f"{name} (no '{use}' designations)")
            return {}
        source = read_source(path, self.folder, is_descriptor_line)
        texts: dict[str, str] = {}
        for number, code, text in descriptor_rows(source):
            if code in texts:
                raise source.fail(number, f"code {code} is listed twice")
            texts[code] = text
        self.done(source, len(texts), layout)
        return texts

    def table(self, name: str, subfolders: tuple[str, ...],
              columns: dict[str, tuple[str, ...]], known: set[str]) -> dict[str, list[str]]:
        """code -> texts of a consumer or clinician descriptor table; rows for codes that are
        not in LONGULT.txt are counted as skipped."""
        path = find(self.folder, name, subfolders)
        if path is None:
            self.missing.append(f"{subfolders[0]}/{name} (looked in the folder and in "
                                f"'{subfolders[0]}/')")
            return {}
        source = read_source(path, self.folder, is_table_row, is_table_header)
        texts: dict[str, list[str]] = {}
        unknown: list[str] = []
        rows = 0
        for number, row in table_rows(source, columns):
            rows += 1
            if not row["text"]:
                raise source.fail(number, f"code {row['code']} has no descriptor")
            if row["code"] not in known:
                unknown.append(f"{row['code']} (line {number})")
                continue
            texts.setdefault(row["code"], []).append(row["text"])
        self.done(source, rows, "tab-separated, " + (
            "header row" if source.header is not None else "no header row, AMA column order"))
        self.skip(f"rows of {source.label}", unknown)
        return texts

    def code_list(self, prop: str, names: tuple[str, ...], known: set[str]) -> set[str] | None:
        """The codes of a list, or None when the release has no such file."""
        path = next((p for n in names if (p := find(self.folder, n, ("*",)))), None)
        if path is None:
            self.missing.append(
                f"{cpt.RELEASE_LISTS[prop]} ({' or '.join(names)}): the '{prop}' property is "
                "left out of this version (unknown, not false)")
            return None
        source = read_source(path, self.folder, is_code_list_line, is_code_list_header)
        rows = code_list(source)
        codes = {code for _, code in rows}
        self.done(source, len(rows), f"{prop} codes, one a line")
        self.skip(f"rows of {source.label}",
                  [f"{code} (line {number})" for number, code in rows if code not in known])
        return codes & known


def read_release(folder: Path, version: str) -> Release:
    """Parse an AMA CPT folder. Raises ImportFailed naming the file and line of any defect."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportFailed(f"{folder} is not a folder of AMA CPT data files")
    if not re.fullmatch(r"[0-9]{4}", version):
        raise ImportFailed(f"version {version!r} is not a year (CPT versions are years: 2026)")
    reader = _Reader(folder)
    texts = {use: reader.descriptors(name, use, layout) for name, use, layout in DESCRIPTOR_FILES}
    order = list(texts["display"])
    known = set(order)
    for (name, _, _), by_code in zip(DESCRIPTOR_FILES, texts.values(), strict=True):
        reader.skip(f"rows of {name}", [code for code in by_code if code not in known])
    consumer = reader.table(*CONSUMER_FILE, CONSUMER_COLUMNS, known)
    clinician = reader.table(*CLINICIAN_FILE, CLINICIAN_COLUMNS, known)
    lists = {prop: reader.code_list(prop, names, known) for prop, names in CODE_LISTS.items()}

    concepts: list[Concept] = []
    for code in order:
        display = texts["display"][code]
        designations = [_designation(use, by_code[code])
                        for use, by_code in texts.items() if code in by_code]
        designations += [_designation("consumer", t) for t in consumer.get(code, [])]
        designations += [_designation("clinician", t) for t in clinician.get(code, [])]
        properties = [Property("kind", k, "code") for k in cpt.kinds_of_code(code)]
        properties.append(Property("modifier", False, "boolean"))
        properties += [Property(prop, code in codes, "boolean")
                       for prop, codes in lists.items() if codes is not None]
        if cpt.PRIMARY_PROCEDURE_PHRASE in " ".join(display.lower().split()):
            properties.append(Property("add-on", True, "boolean"))
        concepts.append(Concept(code=code, display=display, designations=tuple(designations),
                                properties=tuple(properties)))
    concepts += _modifiers(reader, known)
    readme = folder / "README.txt"
    sample = readme.exists() and "SAMPLE DATA" in readme.read_text(errors="replace")
    return Release(version=version, concepts=concepts, files=reader.files,
                   missing=reader.missing, skipped=reader.skipped, unread=reader.unread(),
                   absent_properties=tuple(p for p, codes in lists.items() if codes is None),
                   sample=sample)


def _modifiers(reader: _Reader, known: set[str]) -> list[Concept]:
    appendix_path = find(reader.folder, MODIFIER_FILE)
    table_path = find(reader.folder, MODIFIER_TABLE)
    if appendix_path is None and table_path is None:
        reader.missing.append(f"{MODIFIER_FILE} (Appendix A): no modifiers, so expressions "
                              "such as 99213:25 will not validate")
        return []
    appendix = read_modifier_file(appendix_path, reader.folder) if appendix_path else None
    table = read_modifier_table(table_path, reader.folder) if table_path else None
    concepts = []
    for m in merged(appendix, table):
        if m.code in known:
            source = (appendix or table).source  # type: ignore[union-attr]
            raise source.fail(m.line, f"modifier {m.code} is also a code in LONGULT.txt")
        designations = [_designation("display", m.definition)]
        designations += [_designation("display", d) for d in m.other_definitions]
        properties = [Property("kind", k, "code") for k in m.kinds]
        properties.append(Property("modifier", True, "boolean"))
        concepts.append(Concept(code=m.code, display=m.definition,
                                designations=tuple(designations), properties=tuple(properties)))
    for parsed, what in ((appendix, "Appendix A modifiers"),
                         (table, "modifiers (tx.fhir.org's table)")):
        if parsed is not None:
            reader.done(parsed.source, len(parsed.modifiers), what)
    return concepts


def store_release(store: Store, release: Release, progress: Progress | None = None) -> int:
    """Write one parsed year in one transaction; recompute deleted/new codes across years."""

    def counted() -> Iterator[Concept]:
        for i, concept in enumerate(release.concepts, start=1):
            if progress and i % 500 == 0:
                progress(500)
            yield concept
        if progress:
            progress(len(release.concepts) % 500)

    resource = cpt.code_system_resource(release.version, sample=release.sample,
                                        absent_properties=release.absent_properties)
    with store.transaction() as tx:
        cs_id = tx.replace_code_system(
            url=cpt.URL,
            version=release.version,
            resource_id=cpt.resource_id(release.version),
            resource=resource,
            concepts=counted(),
            provider=cpt.PROVIDER_KEY,
            effective_date=cpt.start_of(release.version),
        )
        versions = tx.versions(cpt.URL)
        tx.derive_release_history(cpt.URL, {v: cpt.start_of(v) or "" for v in versions})
    return cs_id


def import_release(
    store: Store, folder: Path, version: str, progress: Progress | None = None
) -> Release:
    release = read_release(folder, version)
    try:
        store_release(store, release, progress)
    except ValueError as exc:  # a duplicate code in the source
        raise ImportFailed(f"{folder}: {exc}") from exc
    return release


def sample_folder(version: str) -> Path:
    return Path(__file__).parent / "sample" / version


SAMPLE_VERSIONS = ("2025", "2026")
# Plain-language pages for some sample codes: a CodeSystem supplement written by this project.
LAY_SUPPLEMENT = Path(__file__).parent / "sample" / "lay-supplement.json"
