"""`txserver import fhir PATH...`: JSON files, folders, Bundles and FHIR packages (.tgz or an
unpacked package folder); `txserver import package` hands the packages it fetched to
`import_packages` here.

Every CodeSystem, ValueSet, ConceptMap and NamingSystem is checked against the fhir.resources
models (R4B, or R5 for resources written in R5) and stored in one transaction, so a bad
resource leaves the store as it was. Resources are read, checked and stored one at a time
inside that transaction, so a package of thousands of resources is never all in memory.
CodeSystems are stored as rows like every other code system (concepts, hierarchy, search
index: `Writer.store_fhir_code_system`); supplements are kept whole, as they are applied to
the code system they supplement.

In a package, files that are not terminology resources (package.json, other/, xml/,
StructureDefinitions, ...) are counted in the summary and never stop the import. A NamingSystem
that is not valid FHIR is left out and named in the summary (it only gives ids to resolve
systems by: two of THO 7.0.1's have a uniqueId without its required type); any other invalid
resource fails the import.
"""

from __future__ import annotations

import json
import tarfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesystems.fhir_json.packages import Package
from terminology.errors import ImportFailed, fhirpath, model_errors
from terminology.store import MapElement, Store, Writer

KINDS = ("CodeSystem", "ValueSet", "ConceptMap", "NamingSystem")
MAX_PROBLEMS = 3  # reported of an invalid resource (the first of them, by element)
EXAMPLES_SHOWN = 5  # value sets named in the summary per kind of finding
# R5 ConceptMap relationships as R4 equivalences (the FHIR R5->R4 conversion map).
RELATIONSHIP_TO_EQUIVALENCE = {
    "related-to": "relatedto", "equivalent": "equivalent",
    "source-is-narrower-than-target": "wider", "source-is-broader-than-target": "narrower",
    "not-related-to": "unmatched",
}
PACKAGE_MANIFESTS = ("package.json", ".index.json")
PinsOf = list[tuple[str, list[tuple[str, str | None]]]]  # (value set, its (system, version)s)


@dataclass
class ImportReport:
    """What one import read, stored and left out, for the summary a user checks."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    read: list[str] = field(default_factory=list)  # per source: "NAME: what it gave"
    skipped: Counter[str] = field(default_factory=Counter)  # why -> how many files/resources
    naming_systems_read: int = 0
    invalid_naming_systems: list[str] = field(default_factory=list)  # why each was left out
    # value sets that pin a code-system version the store does not hold: (value set, pin)
    unheld_pins: list[tuple[str, str]] = field(default_factory=list)
    unheld_pin_value_sets: int = 0
    # value sets including a code system the store holds at no version
    unknown_system_value_sets: int = 0
    unknown_systems: Counter[str] = field(default_factory=Counter)  # system -> value sets
    notes: list[str] = field(default_factory=list)

    def totals(self) -> str:
        return ", ".join(f"{n:,} {kind}" for kind, n in self.counts.items())

    def lines(self) -> list[str]:
        lines = [f"stored {self.totals()}"]
        lines += [f"  read {line}" for line in self.read]
        lines.append(f"  NamingSystems: {self.naming_systems_read:,} read, "
                     f"{self.counts['NamingSystem']:,} stored (their ids resolve urn:oid: "
                     "and other system ids to canonical urls)")
        if self.invalid_naming_systems:
            lines.append(f"  skipped {len(self.invalid_naming_systems):,} NamingSystems that are "
                         "not valid FHIR: " + "; ".join(self.invalid_naming_systems))
        lines += [f"  skipped {n:,} {why}" for why, n in sorted(self.skipped.items())]
        if self.unheld_pin_value_sets:
            shown = "; ".join(f"{vs} pins {pin}" for vs, pin in
                              self.unheld_pins[:EXAMPLES_SHOWN])
            lines.append(f"  {self.unheld_pin_value_sets:,} ValueSets pin (include.version) a "
                         f"code-system version the store does not hold "
                         f"({len(self.unheld_pins):,} pins), e.g. {shown}")
        if self.unknown_system_value_sets:
            common = ", ".join(f"{system} ({n:,})" for system, n in
                               self.unknown_systems.most_common(EXAMPLES_SHOWN))
            lines.append(f"  {self.unknown_system_value_sets:,} ValueSets include a code system "
                         f"the store does not hold ({len(self.unknown_systems):,} systems), "
                         f"most used: {common}")
        lines += [f"  {note}" for note in self.notes]
        return lines


# -- reading ----------------------------------------------------------------------------------


def _resources_in(document: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(document, dict) or "resourceType" not in document:
        raise ImportFailed(f"{where}: not a FHIR resource (no resourceType)")
    if document["resourceType"] == "Bundle":
        for index, entry in enumerate(document.get("entry", [])):
            resource = (entry or {}).get("resource")
            if isinstance(resource, dict) and resource.get("resourceType") in KINDS:
                yield f"{where} entry {index}", resource
    elif document["resourceType"] in KINDS:
        yield where, document


def _parse(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFailed(f"{where}: not valid JSON ({exc})") from None


def is_package_folder(path: Path) -> bool:
    """An unpacked FHIR package: a folder with package/package.json (the FHIR cache layout)."""
    return (path / "package" / "package.json").is_file()


def read_paths(paths: Iterable[Path], report: ImportReport | None = None,
               ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every CodeSystem, ValueSet, ConceptMap and NamingSystem in the given files, folders and
    packages, one at a time; what a package holds besides them is counted in `report`."""
    report = report if report is not None else ImportReport()
    for path in map(Path, paths):
        if path.is_dir() and is_package_folder(path):
            yield from read_package_folder(path, report)
        elif path.is_dir():
            yield from read_paths(sorted(p for p in path.rglob("*.json") if p.is_file()), report)
        elif path.suffix in (".tgz", ".gz") or path.name.endswith(".tar.gz"):
            yield from _read_package_archive(path, report)
        elif path.is_file():
            yield from _resources_in(_parse(path.read_bytes(), path.name), path.name)
        else:
            raise ImportFailed(f"{path}: no such file or folder")


def _package_member(name: str, data: bytes | Callable[[], bytes], where: str,
                    report: ImportReport) -> Iterator[tuple[str, dict[str, Any]]]:
    """The terminology resources of one JSON file of a package; anything else is counted."""
    if name in PACKAGE_MANIFESTS:
        report.skipped[f"package manifest files ({', '.join(PACKAGE_MANIFESTS)})"] += 1
        return
    document = _parse(data() if callable(data) else data, where)
    kind = document.get("resourceType") if isinstance(document, dict) else None
    if not isinstance(kind, str):
        report.skipped["JSON files that are not FHIR resources (no resourceType)"] += 1
        return
    found = list(_resources_in(document, where))
    if not found:
        report.skipped[f"{kind} resources: not terminology resources"] += 1
    yield from found


def read_package_folder(path: Path,
                        report: ImportReport) -> Iterator[tuple[str, dict[str, Any]]]:
    """The terminology resources of an unpacked package (NAME#VERSION/package/...): the files
    its `.index.json` lists as CodeSystem, ValueSet, ConceptMap or NamingSystem (or a Bundle),
    else every JSON file at the top of package/. Subfolders (other/, xml/, example/) hold no
    package resources: their files are counted, not read."""
    top = path / "package"
    label = path.name
    listed = _index_files(top)
    files = sorted(p for p in top.iterdir() if p.is_file())
    for file in files:
        where = f"{label}:package/{file.name}"
        if file.suffix != ".json":
            report.skipped["files that are not JSON"] += 1
            continue
        if listed is not None and file.name in listed:
            kind = listed[file.name]
            if kind not in (*KINDS, "Bundle"):
                report.skipped[f"{kind} resources: not terminology resources"] += 1
                continue
        yield from _package_member(file.name, file.read_bytes, where, report)
    for folder in sorted(p for p in top.iterdir() if p.is_dir()):
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        report.skipped[f"files in package/{folder.name}/ (not package resources)"] += count
    for folder in sorted(p for p in path.iterdir() if p.is_dir() and p.name != "package"):
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        report.skipped[f"files in {folder.name}/ (not package resources)"] += count


def _index_files(top: Path) -> dict[str, str] | None:
    """File name -> resourceType, from package/.index.json (None when there is none)."""
    index = top / ".index.json"
    if not index.is_file():
        return None
    document = _parse(index.read_bytes(), f"{top.parent.name}:package/.index.json")
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, list):
        return None
    return {f["filename"]: str(f.get("resourceType", "")) for f in files
            if isinstance(f, dict) and isinstance(f.get("filename"), str)}


def _read_package_archive(path: Path,
                          report: ImportReport) -> Iterator[tuple[str, dict[str, Any]]]:
    """The terminology resources of a package tarball, read member by member."""
    try:
        with tarfile.open(path, "r:gz") as package:
            for member in package:
                if not member.isfile():
                    continue
                name = member.name.rsplit("/", 1)[-1]
                if not member.name.endswith(".json"):
                    report.skipped["files that are not JSON"] += 1
                    continue
                handle = package.extractfile(member)
                if handle is None:
                    continue
                yield from _package_member(name, handle.read(), f"{path.name}:{member.name}",
                                           report)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImportFailed(f"{path.name}: not a FHIR package (.tgz): {exc}") from None


# -- checking ---------------------------------------------------------------------------------


def check(where: str, resource: dict[str, Any]) -> None:
    """The resource must be valid FHIR R4 (R4B models) or R5; and, but for a NamingSystem
    (which has no url in R4), have a url."""
    kind = resource["resourceType"]
    errors = model_errors(resource)
    if errors is not None:
        first = "; ".join(f"{fhirpath(kind, tuple(e['loc']))}: {e['msg']}"
                          for e in errors[0][:MAX_PROBLEMS])
        raise ImportFailed(f"{where}: {kind} is not valid FHIR: {first}")
    if not resource.get("url") and kind != "NamingSystem":
        raise ImportFailed(f"{where}: {kind} has no url, so it cannot be referenced")


# -- storing ----------------------------------------------------------------------------------


def _elements(resource: dict[str, Any]) -> Iterator[MapElement]:
    for group in resource.get("group", []):
        source, target = group.get("source", ""), group.get("target")
        for element in group.get("element", []):
            for t in element.get("target", []) or [{"equivalence": "unmatched"}]:
                equivalence = t.get("equivalence") or RELATIONSHIP_TO_EQUIVALENCE.get(
                    t.get("relationship", ""), "relatedto")
                yield MapElement(source, element.get("code", ""), target, t.get("code"),
                                 equivalence, t.get("comment"))


def store_resource(tx: Writer, resource: dict[str, Any]) -> None:
    """Store one checked resource, replacing an earlier import of the same url|version."""
    kind = resource["resourceType"]
    if kind == "CodeSystem" and resource.get("content") == "supplement":
        tx.replace_code_system(url=resource["url"], version=resource.get("version"),
                               resource_id=resource.get("id"), resource=resource, concepts=(),
                               provider="supplement")
    elif kind == "CodeSystem":
        tx.store_fhir_code_system(resource)
    elif kind == "ValueSet":
        tx.replace_value_set(resource)
    elif kind == "ConceptMap":
        tx.replace_concept_map(url=resource["url"], version=resource.get("version"),
                               resource_id=resource.get("id"), resource=resource,
                               elements=_elements(resource))
    else:
        tx.replace_naming_system(resource)


def _pins(resource: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(system, version) of each include and exclude of a ValueSet's compose."""
    compose = resource.get("compose") or {}
    return [(str(rule["system"]), rule.get("version"))
            for rule in (*compose.get("include", []), *compose.get("exclude", []))
            if isinstance(rule, dict) and isinstance(rule.get("system"), str)]


def _version_held(pinned: str, held: list[str]) -> bool:
    """Whether `pinned` (exact, or with x/* wildcard segments) names a stored version."""
    if pinned in held:
        return True
    pattern = pinned.split(".")
    return any(part in ("x", "X", "*") for part in pattern) and any(
        len(v.split(".")) >= len(pattern) and all(
            p in ("x", "X", "*") or p == a for p, a in zip(pattern, v.split(".")))
        for v in held)


def report_pins(tx: Writer, value_sets: PinsOf, report: ImportReport,
                built_in: Mapping[str, list[str]] | None = None) -> None:
    """Count the value sets that pin a code-system version the store does not hold, and
    those that include a code system it holds at no version (as the store is after the
    import, inside its transaction). `built_in`: the versions of the code systems the
    server serves without an import (UCUM, BCP-47…), held too."""
    held: dict[str, list[str]] = {url: list(v) for url, v in (built_in or {}).items()}
    for label, pins in value_sets:
        unheld, unknown = False, False
        for system, version in pins:
            versions = held.setdefault(system, tx.versions(system))
            if not versions:
                unknown = True
                report.unknown_systems[system] += 1
            elif version and not _version_held(version, versions):
                unheld = True
                report.unheld_pins.append(
                    (label, f"{system}|{version} (held: {', '.join(sorted(versions))})"))
        report.unheld_pin_value_sets += unheld
        report.unknown_system_value_sets += unknown


def store_all(tx: Writer, found: Iterable[tuple[str, dict[str, Any]]], report: ImportReport,
              value_sets: PinsOf) -> None:
    """Check and store each resource inside the transaction `tx`, counting it in `report`
    and noting each value set's pins in `value_sets`."""
    for where, resource in found:
        kind = resource["resourceType"]
        if kind == "NamingSystem":
            report.naming_systems_read += 1
            try:
                check(where, resource)
            except ImportFailed as exc:  # only ids to resolve systems by: leave it out, say so
                report.invalid_naming_systems.append(exc.message)
                continue
        else:
            check(where, resource)
        store_resource(tx, resource)
        report.counts[kind] += 1
        if kind == "ValueSet":
            value_sets.append((resource.get("id") or resource["url"], _pins(resource)))


def import_paths(store: Store, paths: list[Path],
                 built_in: Mapping[str, list[str]] | None = None) -> ImportReport:
    """Check and store everything in one transaction (nothing changes if any resource is
    invalid). Returns what was stored, by kind, and the rest of the summary."""
    report = ImportReport()
    with store.transaction() as tx:
        value_sets: PinsOf = []
        store_all(tx, read_paths(paths, report), report, value_sets)
        report_pins(tx, value_sets, report, built_in)
        if not any(report.counts.values()):
            raise ImportFailed("no CodeSystem, ValueSet, ConceptMap or NamingSystem found in "
                               + ", ".join(str(p) for p in paths))
    report.read = [str(p) for p in paths]
    return report


def import_packages(store: Store, packages: list[Package], not_imported: list[str],
                    built_in: Mapping[str, list[str]] | None = None) -> ImportReport:
    """Store the terminology resources of unpacked packages (dependencies
    first) in one transaction, and record each package; `not_imported` says which
    dependencies were left out and why."""
    report = ImportReport()
    with store.transaction() as tx:
        value_sets: PinsOf = []
        for package in packages:
            before = dict(report.counts)
            store_all(tx, read_package_folder(package.folder, report), report, value_sets)
            gave = ", ".join(f"{report.counts[k] - before[k]:,} {k}" for k in KINDS)
            report.read.append(f"{package} (from {package.source}, {package.folder}): {gave}")
            tx.record_package(package.name, package.version, [gave])
        report_pins(tx, value_sets, report, built_in)
    report.notes += [f"not imported: {why}" for why in not_imported]
    return report
