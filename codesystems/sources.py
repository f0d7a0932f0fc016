"""What the importers of public code-set files share: the parsed code system they hand over,
storing it in one transaction, progress reporting, and reading text files line by line.

An importer parses its source completely first (pure, no store), raising ImportFailed that names
the file and the line of the first defect; only then is the result written, all of it in one
`store.transaction()`, so a broken file changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terminology.errors import ImportFailed
from terminology.model import Concept
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


def read_lines(path: Path) -> list[str]:
    """The lines of a text file (UTF-8 with or without BOM, else cp1252), ends stripped."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"{path} is not a file")
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise ImportFailed(f"{path.name}: not a text file (binary content)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise ImportFailed(f"{path.name}: not a text file ({exc.reason})") from None
    return [line.rstrip("\r\n") for line in text.splitlines()]


def numbered_lines(path: Path) -> Iterator[tuple[str, str]]:
    """(`name line N`, line) for each line of a text file that is not blank."""
    for number, line in enumerate(read_lines(path), start=1):
        if line.strip():
            yield f"{path.name} line {number}", line


def column(line: str, first: int, last: int | None = None) -> str:
    """Columns `first` to `last` of a fixed-width line, counted from 1 as the layouts do."""
    return line[first - 1:last].strip()


def fiscal_year_start(version: str) -> str | None:
    """US federal fiscal year YYYY starts on 1 October of YYYY-1 (ICD-10-CM, ICD-10-PCS)."""
    return f"{int(version) - 1}-10-01" if version.isdigit() and len(version) == 4 else None


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
