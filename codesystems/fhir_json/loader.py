"""`txserver import fhir PATH...`: JSON files, folders, Bundles and FHIR packages (.tgz).

Every resource is checked against the fhir.resources models (R4B, or R5 for resources written
in R5) before anything is written; then all of them are stored in one transaction, so a bad
file leaves the store as it was. CodeSystems are served from memory (MemoryProvider), so this
suits code systems up to some tens of thousands of concepts.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic

from terminology.errors import ImportFailed, fhirpath
from terminology.store import MapElement, Store

KINDS = ("CodeSystem", "ValueSet", "ConceptMap")
MAX_PROBLEMS = 3  # reported of an invalid resource (the first of them, by element)
# R5 ConceptMap relationships as R4 equivalences (the FHIR R5->R4 conversion map).
RELATIONSHIP_TO_EQUIVALENCE = {
    "related-to": "relatedto", "equivalent": "equivalent",
    "source-is-narrower-than-target": "wider", "source-is-broader-than-target": "narrower",
    "not-related-to": "unmatched",
}


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


def read_paths(paths: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    """Every CodeSystem, ValueSet and ConceptMap in the given files, folders and packages."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.json") if p.is_file())
            found += read_paths(files) if files else []
        elif path.suffix in (".tgz", ".gz") or path.name.endswith(".tar.gz"):
            found += _read_package(path)
        elif path.is_file():
            for where, resource in _resources_in(_parse(path.read_bytes(), path.name), path.name):
                found.append((where, resource))
        else:
            raise ImportFailed(f"{path}: no such file or folder")
    return found


def _read_package(path: Path) -> list[tuple[str, dict[str, Any]]]:
    found = []
    try:
        with tarfile.open(path, "r:gz") as package:
            for member in package.getmembers():
                if not (member.isfile() and member.name.endswith(".json")):
                    continue
                if member.name.rsplit("/", 1)[-1] in ("package.json", ".index.json"):
                    continue
                handle = package.extractfile(member)
                if handle is None:
                    continue
                where = f"{path.name}:{member.name}"
                document = _parse(handle.read(), where)
                if isinstance(document, dict) and document.get("resourceType") in (*KINDS,
                                                                                    "Bundle"):
                    found += list(_resources_in(document, where))
    except (tarfile.TarError, OSError) as exc:
        raise ImportFailed(f"{path.name}: not a FHIR package (.tgz): {exc}") from None
    return found


def check(where: str, resource: dict[str, Any]) -> None:
    """The resource must be valid FHIR R4 (R4B models) or R5; and have a url."""
    from fhir.resources import get_fhir_model_class as r5_model
    from fhir.resources.R4B import get_fhir_model_class as r4_model

    kind = resource["resourceType"]
    problems: list[list[str]] = []
    for model in (r4_model, r5_model):
        try:
            model(kind).model_validate(resource)
            break
        except pydantic.ValidationError as exc:
            problems.append([f"{fhirpath(kind, tuple(e['loc']))}: {e['msg']}"
                             for e in exc.errors()[:MAX_PROBLEMS]])
        except (KeyError, TypeError):  # how the models fail on a nested resourceType they lack
            problems.append([f"{kind}.contained: a resource of no known FHIR resource type"])
    else:
        raise ImportFailed(f"{where}: {kind} is not valid FHIR: {'; '.join(problems[0])}")
    if not resource.get("url"):
        raise ImportFailed(f"{where}: {kind} has no url, so it cannot be referenced")


def _elements(resource: dict[str, Any]) -> Iterator[MapElement]:
    for group in resource.get("group", []):
        source, target = group.get("source", ""), group.get("target")
        for element in group.get("element", []):
            for t in element.get("target", []) or [{"equivalence": "unmatched"}]:
                equivalence = t.get("equivalence") or RELATIONSHIP_TO_EQUIVALENCE.get(
                    t.get("relationship", ""), "relatedto")
                yield MapElement(source, element.get("code", ""), target, t.get("code"),
                                 equivalence, t.get("comment"))


def import_paths(store: Store, paths: list[Path]) -> dict[str, int]:
    """Check everything, then store everything in one transaction. Returns counts by kind."""
    found = read_paths(paths)
    if not found:
        raise ImportFailed("no CodeSystem, ValueSet or ConceptMap found in "
                           + ", ".join(str(p) for p in paths))
    for where, resource in found:
        check(where, resource)
    counts = dict.fromkeys(KINDS, 0)
    with store.transaction() as tx:
        for _, resource in found:
            kind = resource["resourceType"]
            counts[kind] += 1
            if kind == "CodeSystem":
                provider = "supplement" if resource.get("content") == "supplement" else "memory"
                tx.replace_code_system(
                    url=resource["url"], version=resource.get("version"),
                    resource_id=resource.get("id"),
                    resource=resource, concepts=(), provider=provider)
            elif kind == "ValueSet":
                tx.replace_value_set(resource)
            else:
                tx.replace_concept_map(
                    url=resource["url"], version=resource.get("version"),
                    resource_id=resource.get("id"),
                    resource=resource,
                    elements=_elements(resource))
    return counts

