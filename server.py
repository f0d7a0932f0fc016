"""txserver: the Flask app factory and the command line (serve, import, lookup).

`create_app` opens the store, builds the registry with the code-set providers, registers the
FHIR API and turns every error into an OperationOutcome. `main` is the `txserver` command.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import Flask, request
from werkzeug.exceptions import HTTPException

from codesystems import catalog, iso3166, iso4217
from codesystems.bcp47.provider import Bcp47Provider
from codesystems.cms import definition as cms_definition
from codesystems.cms import edits as cms_edits
from codesystems.cms import mue as cms_mue
from codesystems.cms import ptp as cms_ptp
from codesystems.cms.policies import CmsPolicies
from codesystems.cpt import addons as cpt_addons
from codesystems.cpt import definition as cpt_definition
from codesystems.cpt import loader as cpt_loader
from codesystems.cpt.claim_edits import ModifierEdit
from codesystems.cpt.policies import CptPolicies
from codesystems.cpt.provider import CptProvider
from codesystems.cpt.valuesets import VALUE_SETS
from codesystems.fhir_json import loader as fhir_loader
from codesystems.fhir_json import packages as fhir_packages
from codesystems.hcpcs import definition as hcpcs_definition
from codesystems.hcpcs import loader as hcpcs_loader
from codesystems.icd10cm import loader as icd10cm_loader
from codesystems.icd10pcs import loader as icd10pcs_loader
from codesystems.mime.provider import MimeTypeProvider
from codesystems.sources import ParsedCodeSystem, store_code_system, summary
from codesystems.synonyms import TABLE as SYNONYM_TABLE
from codesystems.ucum import essence as ucum_essence
from codesystems.ucum.provider import UcumProvider
from terminology import clock, heap
from terminology.errors import TerminologyError
from terminology.fhir.render import error_outcome, operation_outcome
from terminology.memory import MemoryProvider
from terminology.provider import CodeSystemProvider
from terminology.registry import ProviderFactory, StoreRegistry
from terminology.store import Store, default_path
from terminology.fhir.resources import SOFTWARE_VERSION
from terminology.store import snapshots
from terminology.textsearch.synonyms import Synonyms
from terminology.web import access_log, admission, layers, serving, snapshot
from terminology.web.api import api, fhir_response
from terminology.web.cache import DEFAULT_ANSWER_BYTES, DEFAULT_BYTES, ResponseCache
from terminology.web.health import health
from terminology.web.hot import HotReads
from terminology.web.http_cache import DEFAULT_MAX_AGE, KEEPABLE_REFUSAL, CachePolicy, HttpCache
from terminology.web.publish import DEFAULT_KEEP, SnapshotPublisher
from terminology.web.replica import DEFAULT_POLL_SECONDS, SnapshotReplica
from terminology.web.writes import Stored, writes
from terminology.web.ui import html_error
from terminology.web.ui import install as install_ui
from terminology.web.validate_api import install as install_validate

PROVIDERS: dict[str, ProviderFactory] = {cpt_definition.PROVIDER_KEY: CptProvider}
CLAIM_EDITS = (ModifierEdit, *cms_edits.CLAIM_EDITS)  # what $validate checks over service lines
DEFAULT_MAX_BODY = 10 * 1024 * 1024
log = logging.getLogger("txserver")


def builtin_code_systems(ucum_path: str | None = None) -> list[CodeSystemProvider]:
    """The code systems served without an import: BCP-47, UCUM and MIME types by their grammar,
    ISO 3166 and ISO 4217 from the data the server ships (UCUM's table may be the user's)."""
    return [Bcp47Provider(), UcumProvider(ucum_essence.load(ucum_path)), MimeTypeProvider(),
            MemoryProvider(iso3166.code_system()), MemoryProvider(iso4217.code_system())]


def built_in_versions() -> dict[str, list[str]]:
    """The versions of the built-in code systems, for import summaries (a value set over UCUM
    includes a code system the server holds)."""
    out: dict[str, list[str]] = {}
    for provider in builtin_code_systems():
        out.setdefault(provider.canonical.url, []).append(provider.canonical.version or "")
    return out


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The WSGI app over the store at config['DB'] (default: TX_DB or the user data folder),
    inside the process-wide layers: access log, metrics, browser headers, credentials."""
    app = build_app(config)
    app.wsgi_app = layers.wrap(app.wsgi_app, app.config)  # type: ignore[method-assign,assignment]
    return app


def serving_app() -> Flask:
    """create_app() as a serving worker runs it: with the start's heap settled
    (serving.settle_heap), since the worker keeps what it built at start for its whole life."""
    app = create_app()
    serving.settle_heap()
    return app


def build_app(config: dict[str, Any] | None = None) -> Flask:
    """The Flask app over one store, with its HTTP cache in front, without the process-wide
    layers (a snapshot replica makes one of these per snapshot, inside one set of layers).
    config READ_ONLY: the store is an immutable snapshot (SNAPSHOT_NAME names it)."""
    app = Flask(__name__)
    app.config["DB"] = str(default_path())
    app.config["MAX_CONTENT_LENGTH"] = int(os.environ.get("TX_MAX_BODY", DEFAULT_MAX_BODY))
    app.config["EXPAND_LIMIT"] = int(os.environ.get("TX_EXPAND_LIMIT", 10000))
    app.config["BASE_URL"] = os.environ.get("TX_BASE_URL")  # the public FHIR base, if set
    app.config["TIME_BUDGET"] = float(os.environ.get("TX_TIME_BUDGET", 10))  # seconds a request
    app.config["HEAVY_SLOTS"] = int(os.environ.get("TX_HEAVY_SLOTS", 1))  # < threads per worker
    app.config.update(layers.from_env())
    app.config.update(config or {})
    clock.configure()  # TX_TIMEZONE read now: an unknown one stops the start
    # a thread waiting for the interpreter gets it within 1 ms, not Python's default 5 ms: a
    # cheap request waits behind expensive ones at each of its SQLite calls (which release it)
    sys.setswitchinterval(float(os.environ.get("TX_SWITCH_INTERVAL", 0.001)))
    heap.limit_malloc_arenas(int(os.environ.get("TX_MALLOC_ARENAS", 2)))  # before threads
    read_only = bool(app.config.get("READ_ONLY"))
    store = Store(app.config["DB"], immutable=read_only)
    if not read_only:
        store.create()
    extra = [Path(f) for f in os.environ.get("TX_SYNONYMS", "").split(",") if f.strip()]
    synonyms = Synonyms.from_tsv(SYNONYM_TABLE, *extra)  # ours, then the user's
    store.use_synonyms(synonyms)
    app.extensions["store"] = store
    registry = StoreRegistry(store, PROVIDERS, value_sets=VALUE_SETS,
                             aliases=hcpcs_definition.ALIASES,
                             builtins=builtin_code_systems(app.config.get("UCUM_ESSENCE")),
                             synonyms=synonyms)
    app.extensions["registry"] = registry
    # each request reads one store generation (writes and health checks read none)
    snapshot.install(app, registry, unpinned=frozenset({writes.name, health.name}))
    answers = ResponseCache(
        int(app.config.get("CACHE_BYTES", os.environ.get("TX_CACHE_BYTES", DEFAULT_BYTES))),
        int(app.config.get("CACHE_ANSWER_BYTES",
                           os.environ.get("TX_CACHE_ANSWER_BYTES", DEFAULT_ANSWER_BYTES))))
    app.extensions["response_cache"] = answers
    # the hot operations answered before Flask, inside the heavy-work gate put in front next
    hot = HotReads(app.wsgi_app, registry, app.config["TIME_BUDGET"], app.config)
    app.wsgi_app = app.extensions["hot_reads"] = hot  # type: ignore[method-assign]
    admission.install(app, app.config["HEAVY_SLOTS"], app.config["TIME_BUDGET"])
    app.extensions["resource_store"] = FhirResources(store)
    if app.config.get("SNAPSHOT_PUBLISH") and not read_only:
        app.extensions["snapshot_publisher"] = SnapshotPublisher(
            store.path, Path(app.config["SNAPSHOT_PUBLISH"]), SOFTWARE_VERSION,
            int(app.config.get("SNAPSHOT_KEEP", DEFAULT_KEEP)))
    app.register_blueprint(health)
    app.register_blueprint(api, url_prefix="/fhir")
    app.register_blueprint(writes, url_prefix="/fhir")
    install_validate(app, [edit() for edit in CLAIM_EDITS], cms_ptp.FHIR_RESOURCES)
    install_ui(app, catalog.CODE_SETS, [CmsPolicies(), CptPolicies()])  # the page for people
    _register_errors(app)
    policy = CachePolicy(
        max_age=int(app.config["MAX_AGE"]), private=bool(app.config.get("READ_TOKENS")),
        build="|".join(str(part) for part in (  # the software and the settings answers follow
            SOFTWARE_VERSION, app.config["EXPAND_LIMIT"], app.config["BASE_URL"],
            os.environ.get("TX_SYNONYMS", ""), app.config.get("UCUM_ESSENCE")
            or os.environ.get("TX_UCUM_ESSENCE", ""))))
    app.wsgi_app = HttpCache(  # type: ignore[method-assign]
        app.wsgi_app, registry, answers, policy, str(app.config.get("SNAPSHOT_NAME") or ""),
        trusted_proxies=tuple(app.config.get("TRUSTED_PROXIES", ())))
    return app


def create_replica() -> Any:
    """The WSGI app of `txserver serve --snapshots DIR` (TX_SNAPSHOTS): the newest valid
    snapshot of DIR, read-only, moving to newer ones as they arrive (web/replica.py)."""
    config = layers.from_env()
    folder = Path(os.environ["TX_SNAPSHOTS"])

    def open_snapshot(snap: snapshots.Snapshot) -> Any:
        return build_app({"DB": str(snap.db), "READ_ONLY": True,
                          "SNAPSHOT_NAME": snap.name}).wsgi_app

    replica = SnapshotReplica(folder, open_snapshot,
                              float(os.environ.get("TX_SNAPSHOT_POLL", DEFAULT_POLL_SECONDS)))
    if not replica.check():
        log.error("no valid snapshot in %s yet: answering 503 until one arrives", folder)
    replica.watch()
    return layers.wrap(replica, config)


def serving_replica() -> Any:
    """create_replica() as a serving worker runs it, with the start's heap settled."""
    replica = create_replica()
    serving.settle_heap()
    return replica


class FhirResources:
    """The ResourceStore of the write API: `txserver import fhir`'s checks and storage, one
    resource per transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def put(self, resource: dict[str, Any]) -> Stored:
        kind, url, version = resource["resourceType"], resource.get("url"), resource.get("version")
        fhir_loader.check(f"the {kind} sent", resource)
        with self.store.transaction() as tx:
            existed = tx.resource_id_of(kind, str(url), version) is not None or (
                "id" in resource and tx.holds(kind, str(resource["id"])))
            fhir_loader.store_resource(tx, resource)
            resource_id = tx.resource_id_of(kind, str(url), version)
        return Stored(kind, str(resource_id), created=not existed)

    def delete(self, kind: str, resource_id: str) -> bool:
        try:
            with self.store.transaction() as tx:
                if not tx.delete(kind, resource_id):
                    raise _NothingChanged  # rolled back: no new generation, ETags kept
        except _NothingChanged:
            return False
        return True


class _NothingChanged(Exception):
    pass


def _register_errors(app: Flask) -> None:
    @app.errorhandler(TerminologyError)
    def terminology_error(error: TerminologyError):  # type: ignore[no-untyped-def]
        if not error.depends_on_load:  # the same request gets it again: the cache may keep it
            request.environ[KEEPABLE_REFUSAL] = True
        response = fhir_response(error_outcome(error), error.status)
        if error.retry_after is not None:
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        status = error.code or 500
        text = {
            404: f"Nothing is served at {request.path}: see /fhir/metadata for what is",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"The request body is larger than the limit of "
                 f"{app.config['MAX_CONTENT_LENGTH']} bytes",
        }.get(status, error.description or error.name)
        if not request.path.startswith("/fhir") and request.accept_mimetypes.accept_html:
            return html_error(status, "There is no page here." if status == 404 else text)
        code = {404: "not-found", 405: "not-supported", 413: "too-costly"}.get(status, "invalid")
        response = fhir_response(operation_outcome(text, code=code), status)
        for name, value in error.get_headers():
            if name.lower() == "allow":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):  # type: ignore[no-untyped-def]
        log.exception("unexpected error on %s %s", request.method, request.path)
        return fhir_response(
            operation_outcome("The server failed to process the request (see its log)",
                              code="exception"),
            500,
        )


# -- command line --------------------------------------------------------------------------


def _store(db: str | None) -> Store:
    store = Store(db or default_path())
    store.create()
    return store


def _progress(label: str, total: int):  # type: ignore[no-untyped-def]
    return click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)


SampleStep = Callable[[Store], object]  # what it returns (a report) is not used
FIRST_START_COMPLETE = "complete"


def sample_steps() -> list[tuple[str, SampleStep]]:
    """The first start's imports, in order, each named so that it is recorded once committed."""
    return [
        *((f"cpt-{version}", functools.partial(_sample_cpt, version=version))
          for version in cpt_loader.SAMPLE_VERSIONS),
        ("cms-addons", lambda store: _echo_summary(
            cpt_addons.import_edits(store, cpt_addons.SAMPLE_FILE, "sample"))),
        ("cms-mue", lambda store: _echo_summary(cms_mue.import_table(store, cms_mue.SAMPLE_FILE))),
        ("cms-ptp", lambda store: _echo_summary(cms_ptp.import_tables(store,
                                                                      [cms_ptp.SAMPLE_FILE]))),
        # plain-language pages
        ("cpt-lay", lambda store: fhir_loader.import_paths(store, [cpt_loader.LAY_SUPPLEMENT])),
        ("icd10cm", lambda store: _store_parsed(store, icd10cm_loader.read_source(),
                                                "ICD-10-CM")),
        ("icd10pcs", lambda store: _store_parsed(
            store, icd10pcs_loader.read_order_file(icd10pcs_loader.SAMPLE_FILE, sample=True),
            "ICD-10-PCS sample")),
        ("hcpcs", lambda store: _store_parsed(
            store, hcpcs_loader.read_anweb(hcpcs_loader.SAMPLE_FILE, sample=True),
            "HCPCS sample")),
    ]


def _sample_cpt(store: Store, version: str) -> None:
    release = cpt_loader.read_release(cpt_loader.sample_folder(version), version)
    with _progress(f"CPT {version} sample", len(release.concepts)) as bar:
        cpt_loader.store_release(store, release, bar.update)
    click.echo("\n".join(release.summary()), err=True)


def _echo_summary(edits: Any) -> None:
    click.echo("\n".join(edits.lines()), err=True)


def import_samples(store: Store) -> None:
    """Import the bundled samples (first start), step by step. Each step is recorded once it
    has committed, so that a first start cut short is finished by the next start
    (`first_start`), which skips the steps already done."""
    done = store.first_start_steps()
    for name, step in sample_steps():
        if name not in done:
            step(store)
            _record_step(store, name)
    _record_step(store, FIRST_START_COMPLETE)


def _record_step(store: Store, name: str) -> None:
    with store.transaction() as tx:
        tx.record_first_start_step(name)


def first_start(store: Store) -> None:
    """Import the samples into an empty store, or finish a first start that was cut short
    (Ctrl-C, a killed process); leave a store filled by `txserver import` alone."""
    done = store.first_start_steps()
    if FIRST_START_COMPLETE in done:
        return
    if done:
        finished = [name for name, _ in sample_steps() if name in done]
        click.echo(f"The first start of {store.path} was cut short after "
                   f"{', '.join(finished)}: resuming the sample import", err=True)
    elif store.is_empty():
        click.echo(f"Empty store {store.path}: importing the bundled samples", err=True)
    else:
        return
    import_samples(store)


def ensure_packages(store: Store, names: list[str]) -> None:
    """Import the packages `serve --package` names that the store does not hold yet (a name
    without a version: any version of it will do). A package that cannot be had stops the
    start: a server without the content it was told to carry would answer wrongly."""
    held = store.packages()
    try:
        refs = [fhir_packages.PackageRef.parse(name) for name in names]
        missing = [r for r in refs if not any(
            name == r.name and r.version in (None, version) for name, version in held)]
        if missing:
            click.echo(f"Importing {', '.join(map(str, missing))} into {store.path}", err=True)
            click.echo("\n".join(import_packages(store, missing).lines()), err=True)
    except TerminologyError as exc:
        raise click.ClickException(f"cannot start: {exc.message}") from None


def _store_parsed(store: Store, parsed: ParsedCodeSystem, label: str, err: bool = True) -> None:
    """Store a parsed code system in one transaction, with a progress bar; then print the
    import summary (what each file gave, what was ignored or skipped and why)."""
    with _progress(f"{label} {parsed.version}", len(parsed.concepts)) as bar:
        store_code_system(store, parsed, bar.update)
    click.echo("\n".join(summary(parsed, label)), err=err)


@click.group()
def main() -> None:
    """txserver: a FHIR R4 terminology server for CPT and other medical code sets."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--db", default=None, help="SQLite store (default: TX_DB or the user data folder)")
@click.option("--snapshots", default=None, type=click.Path(path_type=Path, file_okay=False),
              help="Serve the newest valid snapshot in this folder read-only (a replica), "
                   "moving to newer ones as they arrive (see `txserver snapshot`)")
@click.option("--server", "server_kind", default="granian", show_default=True,
              type=click.Choice(["granian", "gunicorn", "dev"]),
              help="granian (default), gunicorn's gthread workers, or Flask's dev server")
@click.option("--workers", default=1, show_default=True, type=int, help="worker processes")
@click.option("--threads", default=serving.DEFAULT_THREADS, show_default=True, type=int,
              help="threads per worker that run requests (one in eight, at least one, may do "
                   "expensive work)")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="one line per request on stderr")
@click.option("--access-log-format", default=None,
              type=click.Choice([f for f in access_log.FORMATS if f != "off"]),
              help=f"the access log's format (default: TX_ACCESS_LOG, else "
                   f"{access_log.DEFAULT_FORMAT})")
@click.option("--max-age", default=None, type=int,
              help="seconds caches may reuse a GET answer (default: TX_MAX_AGE, else "
                   f"{DEFAULT_MAX_AGE})")
@click.option("--dev", is_flag=True, help="the same as --server dev")
@click.option("--package", "packages", multiple=True, metavar="NAME[@VERSION]",
              help="a FHIR package the store must hold (imported with its dependencies when "
                   "it does not), e.g. hl7.terminology.r4@7.0.1; repeatable")
@click.option("--ucum-essence", "ucum_essence_path", default=None, type=click.Path(path_type=Path),
              help="UCUM's table of units to serve (default: TX_UCUM_ESSENCE, else UCUM 2.2 "
                   "as shipped)")
def serve(host: str, port: int, db: str | None, snapshots: Path | None, server_kind: str,
          workers: int, threads: int, access_log: bool, access_log_format: str | None,
          max_age: int | None, dev: bool, packages: tuple[str, ...],
          ucum_essence_path: Path | None) -> None:
    """Serve FHIR R4 at http://HOST:PORT/fhir (imports the samples into an empty store)."""
    if ucum_essence_path is not None:
        os.environ["TX_UCUM_ESSENCE"] = str(ucum_essence_path)  # read by the workers too
    try:
        ucum_essence.load()  # a table that is not UCUM's stops here, with the reason
    except TerminologyError as exc:
        raise click.ClickException(exc.message) from None
    # the workers' create_app() / create_replica() read these
    os.environ.setdefault("TX_HEAVY_SLOTS", str(max(1, threads // 8)))  # the rest kept cheap
    if not access_log:
        os.environ["TX_ACCESS_LOG"] = "off"
    elif access_log_format:
        os.environ["TX_ACCESS_LOG"] = access_log_format
    if max_age is not None:
        os.environ["TX_MAX_AGE"] = str(max_age)
    if snapshots is not None:
        if packages:
            raise click.ClickException("--package needs a store to import into: a replica "
                                       "serves snapshots (import on the primary)")
        os.environ["TX_SNAPSHOTS"] = str(snapshots.resolve())
        source = f"the newest snapshot in {snapshots}"
        target, factory = "server:serving_replica", serving_replica
    else:
        store = _store(db)
        first_start(store)
        ensure_packages(store, list(packages))
        os.environ["TX_DB"] = str(store.path)
        source = str(store.path)
        target, factory = "server:serving_app", serving_app
    layers.from_env()  # a bad setting stops the start here, not in every worker
    # the workers are forked from here: they keep the limit (their threads may start before
    # the app is made)
    heap.limit_malloc_arenas(int(os.environ.get("TX_MALLOC_ARENAS", 2)))
    click.echo(f"Serving FHIR R4 at http://{host}:{port}/fhir from {source}", err=True)
    settings = serving.Settings(host, port, workers, threads)
    if (dev or server_kind == "dev") and snapshots is not None:
        from werkzeug.serving import run_simple

        run_simple(host, port, create_replica(), threaded=True)
    elif dev or server_kind == "dev":
        create_app().run(host=host, port=port, threaded=True)
    elif server_kind == "gunicorn":
        serving.run_gunicorn(factory, settings)
    else:
        serving.run_granian(target, settings)


@main.command(name="snapshot")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option("--db", default=None)
@click.option("--keep", default=None, type=int,
              help="then remove all but the KEEP newest snapshots in OUT")
def snapshot_command(out: Path, db: str | None, keep: int | None) -> None:
    """Write a consistent, checksummed, read-only copy of the store into the folder OUT: a new
    snapshot folder (named by time and generation) holding tx.db and manifest.json, for
    replicas (`txserver serve --snapshots OUT`)."""
    store = _store(db)
    try:
        written = snapshots.write_snapshot(store.path, out, SOFTWARE_VERSION)
    except snapshots.SnapshotRefused as exc:
        raise click.ClickException(str(exc)) from None
    manifest = written.manifest
    click.echo(f"{written.folder}: generation {manifest['generation']}, "
               f"{len(manifest['code_systems'])} code system versions, "
               f"{manifest['concepts']} concepts, {manifest['value_sets']} value sets, "
               f"{manifest['concept_maps']} concept maps, {manifest['bytes']} bytes, "
               f"sha256 {manifest['sha256']}")
    if keep is not None:
        for removed in snapshots.prune(out, keep):
            click.echo(f"removed {removed}")


@main.group(name="import")
def import_group() -> None:
    """Import code-set source files into the store (each import is all-or-nothing)."""


@import_group.command(name="cpt")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--version", "version", required=True, help="The CPT year, e.g. 2026")
@click.option("--db", default=None)
def import_cpt(folder: Path, version: str, db: str | None) -> None:
    """Import an AMA CPT data-file folder as version YEAR."""
    store = _store(db)
    try:
        release = cpt_loader.read_release(folder, version)
        with _progress(f"CPT {version}", len(release.concepts)) as bar:
            cpt_loader.store_release(store, release, bar.update)
    except TerminologyError as exc:
        raise click.ClickException(f"import failed, nothing changed: {exc.message}") from None
    except ValueError as exc:
        raise click.ClickException(f"import failed, nothing changed: {exc}") from None
    click.echo("\n".join(release.summary()))


@import_group.command(name="cms-addons")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--version", "version", default=None,
              help="Label, e.g. 2026Q2 (default: V2026Q2 in the file name, else the name)")
@click.option("--db", default=None)
def import_cms_addons(file: Path, version: str | None, db: str | None) -> None:
    """Import the CMS add-on code edit file (replaces the previous one)."""
    store = _store(db)
    try:
        summary = cpt_addons.import_edits(store, file, version)
    except TerminologyError as exc:
        raise click.ClickException(f"import failed, nothing changed: {exc.message}") from None
    click.echo("\n".join(summary.lines()))


@import_group.command(name="cms-mue")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--setting", default=None, type=click.Choice(sorted(cms_definition.MUE_SETTINGS)),
              help="The table's setting (default: from the file name, else practitioner)")
@click.option("--effective", default=None,
              help="In force from (YYYY-MM-DD; default: Eff_MM-DD-YYYY in the file name)")
@click.option("--label", default=None, help="Release label, e.g. 2026Q1 (default: file name)")
@click.option("--db", default=None)
def import_cms_mue(file: Path, setting: str | None, effective: str | None, label: str | None,
                   db: str | None) -> None:
    """Import a CMS medically unlikely edit (MUE) table."""
    try:
        summary = cms_mue.import_table(_store(db), file, setting=setting, effective=effective,
                                       label=label)
    except TerminologyError as exc:
        raise click.ClickException(f"import failed, nothing changed: {exc.message}") from None
    click.echo("\n".join(summary.lines()))


@import_group.command(name="cms-ptp")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--setting", default=None, type=click.Choice(sorted(cms_definition.PTP_SETTINGS)),
              help="The table's setting (default: from the file names, else practitioner)")
@click.option("--label", default=None, help="Release label, e.g. 2026Q1 (default: file name)")
@click.option("--db", default=None)
def import_cms_ptp(files: tuple[Path, ...], setting: str | None, label: str | None,
                   db: str | None) -> None:
    """Import the CMS NCCI procedure-to-procedure (PTP) edit files of one setting (all the
    files of a quarter together: they replace the setting's table)."""
    try:
        summary = cms_ptp.import_tables(_store(db), list(files), setting=setting, label=label)
    except TerminologyError as exc:
        raise click.ClickException(f"import failed, nothing changed: {exc.message}") from None
    click.echo("\n".join(summary.lines()))


@import_group.command(name="fhir")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", default=None)
def import_fhir(paths: tuple[Path, ...], db: str | None) -> None:
    """Import FHIR CodeSystem, ValueSet, ConceptMap and NamingSystem JSON: files, folders,
    Bundles, packages (.tgz or unpacked)."""
    store = _store(db)
    try:
        report = fhir_loader.import_paths(store, list(paths), built_in_versions())
    except TerminologyError as exc:
        raise click.ClickException(f"import failed, nothing changed: {exc.message}") from None
    click.echo("\n".join(report.lines()))


def import_packages(store: Store, refs: list[fhir_packages.PackageRef], follow: bool = True,
                    registries: tuple[str, ...] = ()) -> fhir_loader.ImportReport:
    """Fetch the packages (from the cache, else a registry) with their dependencies, then
    store their terminology resources in one transaction; progress on stderr."""
    source = fhir_packages.PackageSource(registries or None,
                                         say=lambda line: click.echo(line, err=True))
    resolution = fhir_packages.resolve(source, refs, follow, held=store.packages())
    return fhir_loader.import_packages(store, resolution.packages, resolution.not_imported,
                                       built_in_versions())


@import_group.command(name="package")
@click.argument("names", nargs=-1, required=True)
@click.option("--registry", "registries", multiple=True,
              help="Package registry URL, tried in order (default: TX_PACKAGE_REGISTRY, else "
                   + ", ".join(fhir_packages.DEFAULT_REGISTRIES) + ")")
@click.option("--dependencies/--no-dependencies", default=True, show_default=True,
              help="also import the packages these depend on")
@click.option("--db", default=None)
def import_package(names: tuple[str, ...], registries: tuple[str, ...], dependencies: bool,
                   db: str | None) -> None:
    """Import FHIR packages by name (NAME or NAME@VERSION, e.g. hl7.terminology.r4@7.0.1):
    their CodeSystems, ValueSets, ConceptMaps and NamingSystems, in one transaction."""
    store = _store(db)
    try:
        refs = [fhir_packages.PackageRef.parse(name) for name in names]
        report = import_packages(store, refs, dependencies, registries)
    except TerminologyError as exc:
        raise click.ClickException(f"import failed, nothing changed: {exc.message}") from None
    click.echo("\n".join(report.lines()))


def _import_parsed(label: str, read: Any, db: str | None) -> None:
    """Parse with `read()`, then store with a progress bar; any failure changes nothing. Then
    the summary: what each file gave, what was ignored or skipped and why."""
    store = _store(db)
    try:
        _store_parsed(store, read(), label, err=False)
    except TerminologyError as exc:
        raise click.ClickException(f"import failed, nothing changed: {exc.message}") from None


@import_group.command(name="icd10cm")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--version", "version", default=None, help="The fiscal year (default: the file's)")
@click.option("--db", default=None)
def import_icd10cm(paths: tuple[Path, ...], version: str | None, db: str | None) -> None:
    """Import an ICD-10-CM release: folders, the CDC/CMS zips, or files of a release (the
    tabular XML, the order file, the code list); default: the simple-icd-10-cm package's."""
    _import_parsed("ICD-10-CM", lambda: icd10cm_loader.read_source(list(paths) or None,
                                                                   version), db)


@import_group.command(name="icd10pcs")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--version", "version", default=None,
              help="The fiscal year (default: from the name, icd10pcs_order_2026.txt)")
@click.option("--db", default=None)
def import_icd10pcs(path: Path, version: str | None, db: str | None) -> None:
    """Import the CMS ICD-10-PCS order file (or the folder or zip holding it)."""
    _import_parsed("ICD-10-PCS", lambda: icd10pcs_loader.read_source(path, version), db)


@import_group.command(name="hcpcs")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--version", "version", default=None,
              help="The release, e.g. 2026-01 (default: from the name, HCPC2026_JAN_ANWEB.txt)")
@click.option("--db", default=None)
def import_hcpcs(path: Path, version: str | None, db: str | None) -> None:
    """Import the CMS HCPCS Level II alpha-numeric (ANWEB) file (or the folder or zip holding
    it)."""
    _import_parsed("HCPCS", lambda: hcpcs_loader.read_source(path, version), db)


@main.command(name="lookup")
@click.argument("code")
@click.option("--system", default=cpt_definition.URL, show_default=True)
@click.option("--version", "version", default=None)
@click.option("--db", default=None)
def lookup_command(code: str, system: str, version: str | None, db: str | None) -> None:
    """Print the $lookup answer for CODE as FHIR JSON."""
    app = create_app({"DB": str(_store(db).path)})
    query: dict[str, str] = {"system": system, "code": code}
    if version:
        query["version"] = version
    response = app.test_client().get("/fhir/CodeSystem/$lookup", query_string=query)
    click.echo(json.dumps(response.get_json(), indent=2, ensure_ascii=False))
    if response.status_code >= 400:
        sys.exit(1)


if __name__ == "__main__":
    main()
