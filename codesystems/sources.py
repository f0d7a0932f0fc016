"""What the importers of public code-set files share: the parsed code system they hand over
(with the summary of what was read, ignored and skipped), storing it in one transaction, progress
reporting, and reading text files line by line in whatever encoding the publisher used.

An importer parses its source completely first (pure, no store), raising ImportFailed that names
the file and the line of the first defect; only then is the result written, all of it in one
`store.transaction()`, so a broken file changes nothing.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terminology.errors import ImportFailed
from terminology.model import Concept
from terminology.numbers import is_digits
from terminology.store import Store

Progress = Callable[[int], None]
PROGRESS_STEP = 1000


@dataclass
class ParsedCodeSystem:
    """One code-system version read from its source files, ready to store."""

    url: str
    version: str
    resource_id: str
    resource: dict[str, Any]
    concepts: list[Concept]
    links: list[tuple[str, str]] = field(default_factory=list)  # (parent, child)
    provider: str = "fhir"
    effective_date: str | None = None
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    indexed_properties: tuple[str, ...] | None = None  # None: every property (see Writer)
    # the summary a user checks against the publisher's counts (see `summary`)
    read: list[str] = field(default_factory=list)  # per file read: "NAME: what it gave"
    ignored: list[str] = field(default_factory=list)  # per file not read: "NAME: why"
    skipped: list[str] = field(default_factory=list)  # what was left out, how many and why

    def concept(self, code: str) -> Concept | None:
        return next((c for c in self.concepts if c.code == code), None)


def counted(items: Iterable[Any], progress: Progress | None,
            step: int = PROGRESS_STEP) -> Iterator[Any]:
    """Yield `items`, telling `progress` how many have gone by every `step` and at the end."""
    pending = 0
    for item in items:
        yield item
        pending += 1
        if progress is not None and pending == step:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)


def store_code_system(store: Store, parsed: ParsedCodeSystem,
                      progress: Progress | None = None) -> int:
    """Write one parsed version (concepts, then hierarchy) in one transaction; its id."""
    try:
        with store.transaction() as tx:
            cs_id = tx.replace_code_system(
                url=parsed.url,
                version=parsed.version,
                resource_id=parsed.resource_id,
                resource=parsed.resource,
                concepts=counted(parsed.concepts, progress),
                provider=parsed.provider,
                effective_date=parsed.effective_date,
                indexed_properties=parsed.indexed_properties,
            )
            tx.add_links(cs_id, parsed.links)
    except ValueError as exc:  # a duplicate code that the parser let through
        raise ImportFailed(f"{', '.join(parsed.files) or parsed.url}: {exc}") from exc
    return cs_id


ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")  # strict UTF-8 first; latin-1 decodes any byte


def decode(data: bytes, name: str) -> tuple[str, str]:
    """(text, encoding): UTF-8 (with or without BOM) when the bytes are valid UTF-8, else cp1252
    (Windows text, as CMS and the AMA ship it), else latin-1."""
    if b"\x00" in data[:4096]:
        raise ImportFailed(f"{name}: not a text file (binary content)")
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding.removesuffix("-sig")
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")


def read_text(path: Path) -> tuple[list[str], str]:
    """(lines with their ends stripped, encoding) of a text file."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"{path} is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFailed(f"{path}: cannot be read ({exc.strerror})") from None
    text, encoding = decode(data, path.name)
    return text.splitlines(), encoding


def read_lines(path: Path) -> list[str]:
    """The lines of a text file, ends stripped (see `decode` for the encodings)."""
    return read_text(path)[0]


def numbered(path: Path, lines: list[str]) -> Iterator[tuple[str, str]]:
    """(`name line N`, line) for each of `lines` (of the file at `path`) that is not blank."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield f"{path.name} line {number}", line


def numbered_lines(path: Path) -> Iterator[tuple[str, str]]:
    """(`name line N`, line) for each line of a text file that is not blank."""
    return numbered(path, read_lines(path))


def head(path: Path, size: int) -> bytes:
    """The first `size` bytes of a file."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise ImportFailed(f"{path}: cannot be read ({exc.strerror})") from None


def first_line(path: Path, size: int = 65536) -> str:
    """The first line of a file that is not blank (from its first `size` bytes), to tell what
    the file is without reading all of it; "" for an empty or binary file."""
    data = head(path, size)
    if b"\x00" in data:
        return ""
    text = data.decode("utf-8-sig", errors="replace")
    return next((line for line in text.splitlines() if line.strip()), "")


ADDENDA = "addenda: the changes since the previous release, not the release itself"


@contextmanager
def unpacked(paths: Iterable[Path]) -> Iterator[list[Path]]:
    """The paths, each .zip replaced by a folder holding its files (CMS and CDC ship their
    releases as zips); the folders are removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="txserver-") as tmp:
        out = []
        for number, path in enumerate(Path(p) for p in paths):
            if path.suffix.lower() != ".zip" or not path.is_file():
                out.append(path)
                continue
            target = Path(tmp) / str(number) / path.stem
            try:
                with zipfile.ZipFile(path) as archive:
                    archive.extractall(target)  # member paths cannot leave `target`
            except (zipfile.BadZipFile, OSError) as exc:
                raise ImportFailed(f"{path.name}: not a readable zip ({exc})") from None
            out.append(target)
        yield out


def files_in(folder: Path, recursive: bool = True) -> list[Path]:
    """The files of a folder (and of its subfolders: zips unpack into folders of their own),
    leaving out hidden files and Python's package internals (`__init__.py`, `__pycache__`)."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and not any(
        part.startswith((".", "__")) for part in p.relative_to(folder).parts))


def choose_file(path: Path, kind: str, why_not: Callable[[Path], str | None],
                label: str | None = None) -> tuple[Path, list[str]]:
    """The file to read: `path` itself, or the one file of `kind` in the folder `path` (with its
    subfolders); and "NAME: why" for each other file there. `why_not(file)` is None for a file
    of the kind, else the reason it is not one. Never the first of several by name. `label`
    names `path` in messages (the zip it was unpacked from)."""
    path = Path(path)
    label = label or str(path)
    if path.is_file():
        return path, []
    if not path.is_dir():
        raise ImportFailed(f"{label} is neither a file nor a folder")
    chosen, ignored = [], []
    for file in files_in(path):
        reason = why_not(file)
        if reason is None:
            chosen.append(file)
        else:
            ignored.append(f"{file.relative_to(path)}: {reason}")
    if not chosen:
        raise ImportFailed(f"{label}: no {kind} there ({'; '.join(ignored) or 'no files'})")
    if len(chosen) > 1:
        names = ", ".join(str(f.relative_to(path)) for f in chosen)
        raise ImportFailed(f"{label}: more than one {kind} ({names}); give the one to read")
    return chosen[0], ignored


def read_chosen(path: Path, kind: str, why_not: Callable[[Path], str | None],
                read: Callable[[Path], ParsedCodeSystem]) -> ParsedCodeSystem:
    """`read` the file at `path`, or the one file of `kind` in the folder or zip `path` (see
    `choose_file`), the summary naming the other files there."""
    with unpacked([path]) as (where,):
        found, ignored = choose_file(where, kind, why_not, label=str(path))
        parsed = read(found)
    parsed.ignored = ignored
    return parsed


def not_read(path: Path) -> str:
    """Why a file of a type the importers never read (.pdf, .xlsx, .md) is left out."""
    return f"not a file the importer reads ({path.suffix or 'no extension'})"


YEAR_IN_NAME = re.compile(r"(?<![0-9])(20[0-9]{2})(?![0-9])")


def year_in_name(name: str) -> str | None:
    """The (last) four-digit year 20YY in a file name: icd10cm_order_2026.txt -> 2026."""
    found = YEAR_IN_NAME.findall(name)
    return found[-1] if found else None


def summary(parsed: ParsedCodeSystem, label: str) -> list[str]:
    """What an import read, ignored and left out, in lines a user can check against the
    publisher's own counts."""
    uses: Counter[str] = Counter()
    for concept in parsed.concepts:
        for designation in concept.designations:
            use = designation.use
            uses[(use.display or use.code or "") if use else "(no use)"] += 1
    lines = [(f"{label} {parsed.version}: {len(parsed.concepts):,} concepts from "
             f"{', '.join(parsed.files)}")]
    lines += [f"  read {line}" for line in parsed.read]
    lines += [f"  ignored {line}" for line in parsed.ignored]
    lines.append("  designations: " + (", ".join(f"{n:,} {use}" for use, n in sorted(uses.items()))
                                       or "none besides the displays"))
    lines += [f"  skipped {line}" for line in parsed.skipped]
    lines += [f"  warning: {line}" for line in parsed.warnings]
    return lines


def column(line: str, first: int, last: int | None = None) -> str:
    """Columns `first` to `last` of a fixed-width line, counted from 1 as the layouts do."""
    return line[first - 1:last].strip()


def fiscal_year_start(version: str) -> str | None:
    """US federal fiscal year YYYY starts on 1 October of YYYY-1 (ICD-10-CM, ICD-10-PCS)."""
    return f"{int(version) - 1}-10-01" if is_digits(version) and len(version) == 4 else None


SAMPLE_NOTE = ("SAMPLE DATA: a few records in the layout of the source file, bundled with "
               "txserver; import the published file for the full code set. ")


def code_system_resource(*, resource_id: str, url: str, oid: str, version: str, name: str,
                         title: str, publisher: str, description: str, copyright: str,
                         properties: list[dict[str, Any]], filters: list[dict[str, Any]],
                         effective_date: str | None, hierarchical: bool,
                         sample: bool = False) -> dict[str, Any]:
    """The CodeSystem resource (without concepts) of one version of a public US code set."""
    resource: dict[str, Any] = {
        "resourceType": "CodeSystem",
        "id": resource_id,
        "url": url,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{oid}"}],
        "version": version,
        "name": name,
        "title": title + (" (sample)" if sample else ""),
        "status": "active",
        "experimental": sample,
        "publisher": publisher,
        "description": (SAMPLE_NOTE if sample else "") + description,
        "copyright": copyright,
        "caseSensitive": True,
        **({"hierarchyMeaning": "is-a"} if hierarchical else {}),
        "compositional": False,
        "versionNeeded": False,
        "content": "complete",
        "filter": filters,
        "property": properties,
    }
    if effective_date:
        resource["date"] = effective_date
    return resource
