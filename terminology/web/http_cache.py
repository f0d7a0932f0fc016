"""HTTP caching of the API's GET answers: validators, lifetimes, 304s, and the answer cache.

An answer is fully decided by the store generation it reads and the request: path, query,
Accept, Accept-Language, X-TOO-COSTLY-THRESHOLD and what the base URL of links is made of (the
address served, the forwarded headers of a trusted proxy), plus the day (the CPT year and the edits in force) and the software and its
settings. So a strong ETag is made from exactly those, *before* anything is computed: a
conditional GET that still matches is answered 304 without routing or computing anything, and
a repeat is served from the answer cache (terminology/web/cache.py) under the same key.

The store version in the ETag is the generation together with the store's own random id and
commit time (StoreVersion), not the file served: every copy of one generation (a replica on
the store, replicas on snapshots of it) gives the same ETags, so a cache in front of several
replicas revalidates against any of them, and a new import or a snapshot of a newer generation
changes every ETag.

Headers on every GET of the API: `ETag`, `Last-Modified` (the generation's commit time, or the
start of today when later, since answers depend on the day), `Cache-Control: public,
max-age=N` (never past the end of the day; `private` when reads need a token), `Vary: Accept,
Accept-Language`; errors other than 404 get `Cache-Control: no-store` and no validators.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import NamedTuple

from terminology import clock
from terminology.registry import StoreRegistry
from terminology.store import StoreVersion
from terminology.web import metrics
from terminology.web.cache import ResponseCache
from terminology.web.wsgi import (
    FHIR_JSON,
    ClosingBody,
    Environ,
    Headers,
    StartResponse,
    WsgiApp,
    path_of,
    respond,
    under,
)

VARY = "Accept, Accept-Language"
DEFAULT_MAX_AGE = 300
# the request headers an answer depends on (WSGI names)
KEY_HEADERS = ("HTTP_ACCEPT", "HTTP_ACCEPT_LANGUAGE", "HTTP_X_TOO_COSTLY_THRESHOLD")
# what the base URL of links is made of (web/api.py base_url): the address served, and the
# forwarded headers when a trusted proxy sent them
BASE_KEYS = ("wsgi.url_scheme", "SERVER_NAME", "SERVER_PORT")
FORWARDED_KEYS = ("HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_PREFIX")
REQUEST_KEYS = KEY_HEADERS + BASE_KEYS
NOT_FORWARDED = (None,) * len(FORWARDED_KEYS)
CACHEABLE = frozenset({200, 404})  # what HTTP caches may keep
# environ key the app sets on a refusal that follows from the request alone (a 404, a 422 of an
# expansion over the limit; not an exhausted time budget): the answer cache keeps it too, so
# that asking again for something refused costs as little as a repeated answer
KEEPABLE_REFUSAL = "txserver.keepable_refusal"


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """`max_age`: seconds a cache may reuse an answer without asking; `private`: only the
    client may keep answers (reads need a token); `build`: what else changes answers (the
    software version and the settings that shape them)."""

    max_age: int = DEFAULT_MAX_AGE
    private: bool = False
    build: str = ""

    def cache_control(self, seconds: int) -> str:
        return f"{'private' if self.private else 'public'}, max-age={max(0, seconds)}"


@dataclass(frozen=True, slots=True)
class Day:
    """The server's day: its date, when it started (answers may change then) and how many
    seconds of it are left (no answer is fresh past its end)."""

    today: str
    started: datetime
    ends: datetime

    @classmethod
    def of(cls, today: str) -> Day:
        start = datetime.combine(date.fromisoformat(today), time(0), tzinfo=clock.zone())
        return cls(today, start.astimezone(timezone.utc),
                   (start + timedelta(days=1)).astimezone(timezone.utc))

    def seconds_left(self) -> int:
        return int((self.ends - clock.now()).total_seconds())


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def _parse_http_date(text: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class HttpCache:
    """WSGI middleware over the Flask app for GET and HEAD under `prefix` (the FHIR API).

    Each request is pinned to the store generation committed when it arrives: its ETag, a
    304, a kept answer and a computed one all come from that generation."""

    def __init__(self, app: WsgiApp, registry: StoreRegistry, answers: ResponseCache,
                 policy: CachePolicy, snapshot: str = "", prefix: str = "/fhir",
                 trusted_proxies: tuple[str, ...] = ()) -> None:
        """`snapshot`: the name of the snapshot served, if any (for /metrics)."""
        self.app = app
        self.trusted = trusted_proxies
        self.snapshot = snapshot
        self.registry = registry
        self.answers = answers
        self.policy = policy
        self.prefix = prefix
        self._versions: dict[int, StoreVersion] = {}
        self._day: tuple[Day, StoreVersion, datetime, str] | None = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or not under(path_of(environ), self.prefix):
            return self.app(environ, start_response)
        head = method == "HEAD"
        # The request is pinned to the generation committed now, here rather than in the app
        # (whose pin then shares this one): its ETag and its answer come from one read
        # transaction, the generation read once.
        pin = self.registry.snapshot()
        generation = pin.__enter__()

        def release() -> None:
            pin.__exit__(None, None, None)

        try:
            prepared = self._prepare(environ, self._version(generation))
            body = self._from_kept(environ, start_response, prepared, head)
            if body is None:
                body = self._compute(environ, start_response, prepared, head)
        except BaseException:
            release()
            raise
        if isinstance(body, list):  # whole: the store is not read again
            release()
            return body
        return ClosingBody(body, release)  # streamed: pinned until it has been sent

    def _version(self, generation: int) -> StoreVersion:
        """This generation's StoreVersion (kept once read)."""
        version = self._versions.get(generation)
        if version is None:
            version = self.registry.store.version()  # read in the request's snapshot
            if len(self._versions) > 8:
                self._versions.clear()
            self._versions[generation] = version
            metrics.serving(version.id, self.snapshot, version.generation)
        return version

    def _dated(self, version: StoreVersion) -> tuple[Day, datetime, str]:
        """The day, and the Last-Modified of `version` on it (kept while both stay)."""
        today = clock.today()
        kept = self._day
        if kept is None or kept[0].today != today or kept[1] is not version:
            day = Day.of(today)
            modified = max(version.committed.replace(microsecond=0), day.started)
            kept = self._day = (day, version, modified, http_date(modified))
        return kept[0], kept[2], kept[3]

    def key(self, environ: Environ, version: StoreVersion, day: Day) -> tuple[object, ...]:
        forwarded = (tuple(map(environ.get, FORWARDED_KEYS))
                     if environ.get("REMOTE_ADDR") in self.trusted else NOT_FORWARDED)
        return (path_of(environ), environ.get("QUERY_STRING", ""),
                *map(environ.get, REQUEST_KEYS), *forwarded,
                version.generation, version.store_id, version.committed_at, day.today,
                self.policy.build)

    def _prepare(self, environ: Environ, version: StoreVersion) -> _Prepared:
        day, modified, last_modified = self._dated(version)
        key = self.key(environ, version, day)
        digest = hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest()
        etag = f'"{version.generation}-{digest}"'
        lifetime = self.policy.cache_control(min(self.policy.max_age, day.seconds_left()))
        return _Prepared(key, etag, modified, [
            ("ETag", etag), ("Last-Modified", last_modified), ("Cache-Control", lifetime),
            ("Vary", VARY)])

    def _from_kept(self, environ: Environ, start_response: StartResponse, prepared: _Prepared,
                   head: bool) -> Iterable[bytes] | None:
        """A 304 or the kept answer, when there is one."""
        if _not_modified(environ, prepared.etag, prepared.modified):
            metrics.ANSWER_NOT_MODIFIED.inc()
            start_response("304 Not Modified", prepared.headers)
            return [b""]
        kept = self.answers.answer(prepared.key)
        if kept is None:
            return None
        metrics.ANSWER_HIT.inc()
        status, body = kept
        return respond(start_response, status, [("Content-Type", FHIR_JSON),
                                                *self._lifetime(status, prepared.headers)],
                       body, head=head)

    def _compute(self, environ: Environ, start_response: StartResponse, prepared: _Prepared,
                 head: bool) -> Iterable[bytes]:
        """The app's answer, given the headers, and kept when it may be. It reads the
        generation the request is pinned to (__call__), the one its ETag names."""
        metrics.ANSWER_MISS.inc()
        seen = _Started()

        def start(line: str, headers: Headers, exc_info: object = None) -> object:
            seen.status = int(line[:3])
            seen.headers = {k.lower(): v for k, v in headers}
            lifetime = self._lifetime(seen.status, prepared.headers)
            return start_response(line, [*headers, *lifetime], exc_info)

        result = self.app(environ, start)
        keep = (seen.status == 200 or environ.get(KEEPABLE_REFUSAL)) and not head and (
            seen.headers.get("content-type", "").startswith("application/fhir+json"))
        length = seen.headers.get("content-length", "")
        if not keep or not length.isdigit() or int(length) > self.answers.max_answer_bytes:
            return result  # streamed, too large or not to be kept: passed on as it comes
        try:
            answer = b"".join(result)
        finally:  # PEP 3333: call the iterable's close() if it has one
            close = getattr(result, "close", None)
            if close is not None:
                close()
        self.answers.put(prepared.key, answer, seen.status)
        return [answer]

    @staticmethod
    def _lifetime(status: int, cacheable: Headers) -> Headers:
        return cacheable if status in CACHEABLE else [("Cache-Control", "no-store"),
                                                       ("Vary", VARY)]


class _Prepared(NamedTuple):
    """What a request's answer will be labelled with, known before it is computed (a tuple:
    made for every request, in a fraction of a frozen dataclass's time)."""

    key: tuple[object, ...]
    etag: str
    modified: datetime
    headers: Headers


class _Started:
    """What the app started its answer with."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}


def _not_modified(environ: Environ, etag: str, modified: datetime) -> bool:
    """RFC 9110 13.1.2 and 13.1.3: If-None-Match (weak comparison) decides when sent;
    If-Modified-Since only without it."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since:
        moment = _parse_http_date(since)
        return moment is not None and modified <= moment
    return False
