"""FHIR packages by name (`NAME[@VERSION]`): fetched from a package registry, cached where FHIR
tools cache them, with the packages they depend on.

FHIR package registries speak the npm registry protocol: `GET {registry}/{name}` answers a
document whose `versions.{V}` give `dist.tarball` (the .tgz), `dist.shasum` / `dist.integrity`
(its digest) and `dependencies`, and whose `dist-tags.latest` names the newest release. The
registries are tried in order (`TX_PACKAGE_REGISTRY`, comma-separated; default the FHIR
registry, then the npm registry). A package is unpacked into `~/.fhir/packages/NAME#VERSION/`
(`TX_PACKAGE_CACHE` elsewhere), the layout of the HL7 validator and the IG publisher, and read
from there again without the network.

Dependencies are followed, each package name at one version (the first asked for wins), except
the FHIR core packages (hl7.fhir.r4.core, ...): they are the specification itself, tens of MB of
StructureDefinitions whose code systems are older copies of what the HL7 Terminology package
(THO) holds under the same ids; they are imported only when asked for by name.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terminology.errors import ImportFailed
from terminology.store import version_key

if TYPE_CHECKING:  # imported on the first download (see PackageSource._http)
    import requests

DEFAULT_REGISTRIES = ("https://packages.fhir.org", "https://registry.npmjs.org")
TIMEOUT = (10, 60)  # seconds to connect, to wait for each read
MAX_PACKAGE_BYTES = 512 * 1024 * 1024
CORE_PACKAGE = re.compile(r"^hl7\.fhir\.r[0-9]+b?\.core$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class PackageRef:
    """A package asked for: `name`, at `version` (None: the latest the registry has)."""

    name: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> PackageRef:
        """`name`, `name@version` or FHIR's `name#version`."""
        name, _, version = text.strip().replace("#", "@", 1).partition("@")
        if not NAME.match(name) or (version and not NAME.match(version)):
            raise ImportFailed(f"'{text}' is not a package name (NAME or NAME@VERSION)")
        return cls(name, version or None)

    def __str__(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name


@dataclass(frozen=True, slots=True)
class Package:
    """A package unpacked in the cache: `folder` is NAME#VERSION (holding package/)."""

    name: str
    version: str
    folder: Path
    source: str  # the registry it came from, or "the cache"
    dependencies: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name}#{self.version}"


def registries_from_env() -> tuple[str, ...]:
    listed = os.environ.get("TX_PACKAGE_REGISTRY", "")
    found = tuple(r.strip().rstrip("/") for r in re.split(r"[,\s]+", listed) if r.strip())
    return found or DEFAULT_REGISTRIES


def cache_from_env() -> Path:
    return Path(os.environ.get("TX_PACKAGE_CACHE") or Path.home() / ".fhir" / "packages")


class PackageSource:
    """Packages from the cache, else from the first registry that has them."""

    def __init__(self, registries: Iterable[str] | None = None, cache: Path | None = None,
                 say: Say | None = None) -> None:
        self.registries = tuple(registries or registries_from_env())
        self.cache = Path(cache or cache_from_env())
        self.say = say or (lambda _: None)
        self._session: requests.Session | None = None

    def _http(self) -> requests.Session:
        """The HTTP session, made on the first download: requests (6 MB, 70 ms to import) is
        imported then, not by every serving worker, which never downloads a package."""
        import requests

        if self._session is None:
            self._session = requests.Session()
        return self._session

    def fetch(self, ref: PackageRef) -> Package:
        """The package `ref` names, unpacked in the cache. Raises ImportFailed saying what
        each registry answered when none has it."""
        if ref.version is not None:
            cached = self._cached(ref.name, ref.version)
            if cached is not None:
                return cached
        problems: list[str] = []
        for registry in self.registries:
            try:
                document = self._get_json(f"{registry}/{ref.name}")
            except _Missing as exc:
                problems.append(f"{registry}: {exc}")
                continue
            return self._from_registry(registry, ref, document)
        if ref.version is None:
            newest = self._newest_cached(ref.name)
            if newest is not None:
                self.say(f"{ref.name}: no registry answered ({'; '.join(problems)}); using "
                         f"the newest cached version, {newest.version}")
                return newest
        raise ImportFailed(f"package {ref} could not be fetched: {'; '.join(problems)}")

    # -- the registry ---------------------------------------------------------------------

    def _from_registry(self, registry: str, ref: PackageRef, document: Any) -> Package:
        versions = document.get("versions") if isinstance(document, dict) else None
        if not isinstance(versions, dict) or not versions:
            raise ImportFailed(f"package {ref.name}: {registry} lists no versions of it")
        version = ref.version or str((document.get("dist-tags") or {}).get("latest") or
                                     max(versions, key=version_key))
        entry = versions.get(version)
        if not isinstance(entry, dict):
            known = ", ".join(sorted(versions, key=version_key)[-8:])
            raise ImportFailed(f"package {ref.name} has no version {version} at {registry} "
                               f"(it has {known})")
        cached = self._cached(ref.name, version)
        if cached is not None:
            return cached
        dist = entry.get("dist") or {}
        tarball = dist.get("tarball")
        if not isinstance(tarball, str):
            raise ImportFailed(f"package {ref.name}@{version}: {registry} gives no tarball")
        self.say(f"fetching {ref.name}@{version} from {tarball}")
        data = self._get_bytes(tarball)
        _check_digest(data, dist, f"{ref.name}@{version}")
        folder = self._unpack(ref.name, version, data)
        return Package(ref.name, version, folder, registry, _dependencies(folder))

    def _get(self, url: str) -> requests.Response:
        import requests

        try:
            response = self._http().get(url, timeout=TIMEOUT, stream=True)
        except requests.RequestException as exc:
            raise _Missing(f"cannot be reached ({type(exc).__name__})") from None
        if response.status_code == 404:
            raise _Missing("does not have it (404)")
        if response.status_code != 200:
            raise _Missing(f"answered HTTP {response.status_code}")
        return response

    def _get_json(self, url: str) -> Any:
        response = self._get(url)
        try:
            return response.json()
        except ValueError:
            raise _Missing("answered something that is not JSON") from None

    def _get_bytes(self, url: str) -> bytes:
        import requests

        try:
            response = self._get(url)
        except _Missing as exc:
            raise ImportFailed(f"{url}: {exc}") from None
        out = io.BytesIO()
        try:
            for chunk in response.iter_content(1 << 16):
                out.write(chunk)
                if out.tell() > MAX_PACKAGE_BYTES:
                    raise ImportFailed(f"{url}: larger than {MAX_PACKAGE_BYTES:,} bytes")
        except requests.RequestException as exc:
            raise ImportFailed(f"{url}: the download broke off ({type(exc).__name__})") from None
        return out.getvalue()

    # -- the cache ------------------------------------------------------------------------

    def _folder(self, name: str, version: str) -> Path:
        return self.cache / f"{name}#{version}"

    def _cached(self, name: str, version: str) -> Package | None:
        folder = self._folder(name, version)
        if not (folder / "package" / "package.json").is_file():
            return None
        return Package(name, version, folder, "the cache", _dependencies(folder))

    def _newest_cached(self, name: str) -> Package | None:
        if not self.cache.is_dir():
            return None
        versions = [p.name.partition("#")[2] for p in self.cache.glob(f"{name}#*")]
        found = [self._cached(name, v) for v in sorted(versions, key=version_key)]
        usable = [p for p in found if p is not None]
        return usable[-1] if usable else None

    def _unpack(self, name: str, version: str, data: bytes) -> Path:
        """Unpack into the cache: into a temporary folder beside the target, then renamed,
        so that a broken download never leaves a half package that looks cached."""
        target = self._folder(name, version)
        self.cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}#{version}-", dir=self.cache))
        try:
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
                    archive.extractall(work, filter="data")  # no paths out, no devices
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise ImportFailed(f"package {name}@{version}: not a readable .tgz ({exc})")
            if not (work / "package" / "package.json").is_file():
                raise ImportFailed(f"package {name}@{version}: no package/package.json in it")
            try:
                work.rename(target)
            except OSError:  # another process cached it meanwhile: keep theirs
                if not (target / "package" / "package.json").is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return target


class _Missing(Exception):
    """A registry that does not have the package, or cannot be asked."""


def _check_digest(data: bytes, dist: dict[str, Any], label: str) -> None:
    """The tarball must match the digest the registry gives (sha512 integrity, else sha1)."""
    integrity = dist.get("integrity")
    if isinstance(integrity, str) and integrity.startswith("sha512-"):
        expected = base64.b64decode(integrity[7:])
        if hashlib.sha512(data).digest() != expected:
            raise ImportFailed(f"package {label}: the download does not match its sha512 "
                               "digest (a broken or altered download); nothing was imported")
    elif isinstance(dist.get("shasum"), str):
        if hashlib.sha1(data).hexdigest() != dist["shasum"].lower():
            raise ImportFailed(f"package {label}: the download does not match its sha1 digest "
                               "(a broken or altered download); nothing was imported")


def _dependencies(folder: Path) -> dict[str, str]:
    manifest = folder / "package" / "package.json"
    try:
        document = json.loads(manifest.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise ImportFailed(f"{manifest}: not readable JSON ({exc})") from None
    dependencies = document.get("dependencies") if isinstance(document, dict) else None
    return {str(k): str(v) for k, v in (dependencies or {}).items()}


@dataclass
class Resolution:
    """The packages to import, dependencies before what depends on them, and why the
    dependencies that are not imported are not."""

    packages: list[Package] = field(default_factory=list)
    not_imported: list[str] = field(default_factory=list)


def resolve(source: PackageSource, asked: list[PackageRef], follow: bool = True,
            held: Iterable[tuple[str, str]] = ()) -> Resolution:
    """The packages `asked` for and (when `follow`) the ones they depend on, transitively.
    A package asked for that cannot be fetched fails the whole import; a dependency that
    cannot be fetched, a second version of one package, a FHIR core package and a dependency
    already in the store (`held`: name, version) are left out, each with the reason."""
    out = Resolution()
    chosen: dict[str, Package] = {}
    held_set = set(held)
    for ref in asked:
        if ref.name in chosen:
            continue
        chosen[ref.name] = package = source.fetch(ref)
        out.packages.append(package)
    queue = [(package, package.dependencies) for package in out.packages] if follow else []
    while queue:
        parent, dependencies = queue.pop(0)
        for name, version in dependencies.items():
            label = f"{name}@{version} (a dependency of {parent})"
            if name in chosen:
                if chosen[name].version != version:
                    out.not_imported.append(f"{label}: {chosen[name]} is imported instead")
                continue
            if CORE_PACKAGE.match(name):
                out.not_imported.append(
                    f"{label}: the FHIR core package (the specification's own definitions, "
                    "its code systems older copies of THO's) is imported only by name: "
                    f"txserver import package {name}@{version}")
                continue
            if (name, version) in held_set:
                out.not_imported.append(f"{label}: already in the store")
                continue
            try:
                dependency = source.fetch(PackageRef(name, version))
            except ImportFailed as exc:
                out.not_imported.append(f"{label}: {exc.message}")
                continue
            chosen[name] = dependency
            out.packages.append(dependency)
            queue.append((dependency, dependency.dependencies))
    out.packages.reverse()  # dependencies first: what depends on them is stored last, and wins
    return out
