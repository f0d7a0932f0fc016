"""Importer for a licensed user's AMA CPT data files (and for our sample in the same layout).

Pure parsing (`read_release`) is kept apart from storing (`import_release`): the whole folder is
parsed and checked first, then written in one transaction, so a broken file changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from codesystems.cpt import definition as cpt
from codesystems.cpt.files import (
    MODIFIER_SHAPE,
    code_list,
    code_text_lines,
    csv_rows,
    find,
    table_rows,
)
from terminology.errors import ImportFailed
from terminology.model import Coding, Concept, Designation, Property
from terminology.store import Store

DESCRIPTOR_FILES = (
    ("LONGULT.txt", "display"),
    ("LONGUT.txt", "upper"),
    ("MEDU.txt", "med"),
    ("SHORTU.txt", "short"),
)
MODIFIER_FILES = ("modifiers.csv",)
ORTHOPOX_FILES = ("OrthopoxvirusCodes.txt", "Orthopoxvirus.txt")
TELEMEDICINE_FILES = ("TelemedicineCodes.txt", "AppendixP.txt", "Telemedicine.txt")
MODIFIER_KIND_COLUMNS = (
    ("General", "general"),
    ("PhysicalStatus", "physical-status"),
    ("LevelOne", "cat-1"),
    ("LevelTwo", "cat-2"),
    ("HCPCS", "hcpcs"),
)

Progress = Callable[[int], None]


@dataclass
class Release:
    """One year's parsed CPT content, ready to store."""

    version: str
    concepts: list[Concept]
    files: list[str] = field(default_factory=list)
    sample: bool = False


def _designation(use: str, value: str) -> Designation:
    return Designation(value=value, language="en", use=Coding(system=cpt.URL, code=use))


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        found = find(folder, name)
        if found:
            return found
    return None


def read_release(folder: Path, version: str) -> Release:
    """Parse an AMA CPT folder. Raises ImportFailed naming the file and line of any defect."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportFailed(f"{folder} is not a folder of AMA CPT data files")
    if not re.fullmatch(r"[0-9]{4}", version):
        raise ImportFailed(f"version {version!r} is not a year (CPT versions are years: 2026)")
    longult = find(folder, "LONGULT.txt")
    if longult is None:
        raise ImportFailed(f"LONGULT.txt not found in {folder}: it holds the CPT descriptors")

    used: list[str] = []
    texts: dict[str, dict[str, str]] = {}  # code -> use -> text
    order: list[str] = []
    for name, use in DESCRIPTOR_FILES:
        path = find(folder, name)
        if path is None:
            continue
        used.append(path.name)
        for number, code, text in code_text_lines(path):
            if use in texts.get(code, {}):
                raise ImportFailed(f"{path.name} line {number}: code {code} is listed twice")
            if use == "display":
                order.append(code)
            texts.setdefault(code, {})[use] = text

    consumer: dict[str, str] = {}
    path = find(folder, "ConsumerDescriptor.txt")
    if path:
        used.append(path.name)
        for _, cells in table_rows(path, 3):
            consumer[cells[1]] = cells[2]
    clinician: dict[str, list[str]] = {}
    path = find(folder, "ClinicianDescriptor.txt")
    if path:
        used.append(path.name)
        for _, cells in table_rows(path, 4):
            clinician.setdefault(cells[1], []).append(cells[3])

    telemedicine: set[str] = set()
    path = _first(folder, TELEMEDICINE_FILES)
    if path:
        used.append(path.name)
        telemedicine = code_list(path)
    orthopox: set[str] = set()
    path = _first(folder, ORTHOPOX_FILES)
    if path:
        used.append(path.name)
        orthopox = code_list(path)

    concepts: list[Concept] = []
    for code in order:
        by_use = texts[code]
        display = by_use["display"]
        designations = [_designation(use, by_use[use]) for _, use in DESCRIPTOR_FILES if use in by_use]
        if code in consumer:
            designations.append(_designation("consumer", consumer[code]))
        designations += [_designation("clinician", text) for text in clinician.get(code, [])]
        properties = [Property("kind", k, "code") for k in cpt.kinds_of_code(code)]
        properties += [
            Property("modifier", False, "boolean"),
            Property("telemedicine", code in telemedicine, "boolean"),
            Property("orthopox", code in orthopox, "boolean"),
        ]
        if cpt.PRIMARY_PROCEDURE_PHRASE in " ".join(display.lower().split()):
            properties.append(Property("add-on", True, "boolean"))
        concepts.append(
            Concept(code=code, display=display, designations=tuple(designations),
                    properties=tuple(properties))
        )

    path = _first(folder, MODIFIER_FILES)
    if path:
        used.append(path.name)
        concepts += _modifiers(path, known={c.code for c in concepts})
    sample = (folder / "README.txt").exists() and "SAMPLE DATA" in (folder / "README.txt").read_text(
        errors="replace"
    )
    return Release(version=version, concepts=concepts, files=used, sample=sample)


def _modifiers(path: Path, known: set[str]) -> list[Concept]:
    concepts = []
    for number, row in csv_rows(path):
        code = row.get("Code", "")
        if not MODIFIER_SHAPE.match(code):
            raise ImportFailed(f"{path.name} line {number}: {code[:20]!r} is not a modifier code")
        if code in known:
            raise ImportFailed(f"{path.name} line {number}: modifier {code} listed twice")
        known.add(code)
        definition = row.get("Definition", "")
        if not definition:
            raise ImportFailed(f"{path.name} line {number}: modifier {code} has no definition")
        kinds = [kind for column, kind in MODIFIER_KIND_COLUMNS if row.get(column) == "1"]
        if not kinds:
            raise ImportFailed(f"{path.name} line {number}: modifier {code} has no kind flagged")
        properties = [Property("kind", k, "code") for k in kinds]
        properties.append(Property("modifier", True, "boolean"))
        concepts.append(
            Concept(
                code=code,
                display=definition,
                designations=(_designation("display", definition),),
                properties=tuple(properties),
            )
        )
    return concepts


def store_release(store: Store, release: Release, progress: Progress | None = None) -> int:
    """Write one parsed year in one transaction; recompute deleted/new codes across years."""

    def counted():
        for i, concept in enumerate(release.concepts, start=1):
            if progress and i % 500 == 0:
                progress(500)
            yield concept
        if progress:
            progress(len(release.concepts) % 500)

    with store.transaction() as tx:
        cs_id = tx.replace_code_system(
            url=cpt.URL,
            version=release.version,
            resource_id=cpt.resource_id(release.version),
            resource=cpt.code_system_resource(release.version, sample=release.sample),
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
