"""The first start's sample import is finished even when it is cut short.

`txserver serve` on an empty store imports the bundled samples, one committed step after
another. Before the steps were recorded, a first start interrupted after CPT left a store that
was "not empty", so ICD-10-CM, ICD-10-PCS and HCPCS were never imported on later starts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

import server
from codesystems.cpt import definition as cpt
from codesystems.hcpcs import definition as hcpcs
from codesystems.icd10cm import definition as icd10cm
from codesystems.icd10cm import loader as icd10cm_loader
from codesystems.icd10pcs import definition as icd10pcs
from codesystems.cpt import loader as cpt_loader
from terminology.store import Store

SMALL_ICD10CM = Path(__file__).parent / "data" / "icd10cm"
EVERY_SAMPLE = {cpt.URL, icd10cm.URL, icd10pcs.URL, hcpcs.URL}
READ_ICD10CM = icd10cm_loader.read_source


class Interrupted(BaseException):
    """Stands for Ctrl-C or a killed process in the middle of the first start."""


@pytest.fixture(autouse=True)
def no_server(monkeypatch):  # type: ignore[no-untyped-def]
    """`serve --dev` prepares the store and then would serve: it returns at once instead."""
    monkeypatch.setattr(Flask, "run", lambda self, **kwargs: None)
    # `serve` hands its store to the workers in TX_DB: restored after each test
    monkeypatch.setenv("TX_DB", os.environ.get("TX_DB", ""))
    # the full ICD-10-CM takes seconds: the test's small tabular list stands in for it
    monkeypatch.setattr(icd10cm_loader, "read_source", lambda *a, **k: READ_ICD10CM(SMALL_ICD10CM))


def serve(path: Path):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(server.main, ["serve", "--dev", "--db", str(path)])


def stored_urls(path: Path) -> set[str]:
    store = Store(path)
    try:
        return {cs.url for cs in store.code_systems() if cs.provider != "supplement"}
    finally:
        store.close()


def test_a_first_start_cut_short_is_finished_by_the_next_start(tmp_path, monkeypatch):
    path = tmp_path / "tx.db"

    def cut(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Interrupted()

    with monkeypatch.context() as m, pytest.raises(Interrupted):
        m.setattr(icd10cm_loader, "read_source", cut)
        serve(path)
    assert stored_urls(path) == {cpt.URL}  # CPT got in, then the start was cut short

    redone: list[str] = []
    real_store_release = cpt_loader.store_release
    monkeypatch.setattr(cpt_loader, "store_release",
                        lambda store, release, *a: redone.append(release.version)
                        or real_store_release(store, release, *a))
    second = serve(path)
    assert second.exit_code == 0, second.output
    assert stored_urls(path) == EVERY_SAMPLE
    assert redone == []  # what the first start finished is not imported again
    assert "resum" in second.output.lower()


def test_a_finished_first_start_is_not_repeated(tmp_path, monkeypatch):
    path = tmp_path / "tx.db"
    assert serve(path).exit_code == 0
    assert stored_urls(path) == EVERY_SAMPLE
    monkeypatch.setattr(server, "import_samples",
                        lambda store: pytest.fail("samples imported twice"))
    assert serve(path).exit_code == 0


def test_a_store_filled_before_the_first_start_gets_no_samples(tmp_path):
    path = tmp_path / "tx.db"
    store = Store(path)
    cpt_loader.import_release(store, cpt_loader.sample_folder("2026"), "2026")
    assert serve(path).exit_code == 0
    assert stored_urls(path) == {cpt.URL}
    assert [cs.version for cs in Store(path).code_systems()] == ["2026"]
