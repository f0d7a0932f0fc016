"""What day it is for the server: the default date of service when a request names none.

One time zone decides it, stated rather than inherited from the machine: `TX_TIMEZONE` (an IANA
name such as `America/Chicago`, from the system's time-zone database), UTC by default. Every
"today" of the engine (the CPT year in force, the add-on edits and MUE limits in force, the
answer cache's day) comes from `today()`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from datetime import time as dt_time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV = "TX_TIMEZONE"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@lru_cache(maxsize=8)
def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{ENV}={name!r} is not a time zone this system knows "
                         "(an IANA name such as UTC or America/Chicago)") from None


_ZONE_NAME: str | None = None  # TX_TIMEZONE as read by configure(); None: not read yet


def configure() -> tzinfo:
    """Read `TX_TIMEZONE` (again): the server does at its start, so that an unknown zone
    stops it there (ValueError) and no request pays for reading the environment (2 µs)."""
    global _ZONE_NAME
    name = os.environ.get(ENV) or "UTC"
    found = _zone(name)
    _ZONE_NAME = name
    return found


def zone() -> tzinfo:
    """The server's time zone: `TX_TIMEZONE` as read at the start (configure)."""
    name = _ZONE_NAME
    return configure() if name is None else _zone(name)


def now() -> datetime:
    """The current time (UTC): the one clock of the server, so that tests can move it."""
    return _utc_now()


_TODAY: tuple[Callable[[], datetime], tzinfo, float, str] | None = None


def today() -> str:
    """Today's date (ISO, YYYY-MM-DD) in the server's time zone. Asked several times a
    request: worked out at most once a second, and again at once when the clock (tests move
    it), the zone or the day changes."""
    global _TODAY
    kept, tz = _TODAY, zone()
    if kept is not None and kept[0] is _utc_now and kept[1] is tz \
            and time.monotonic() < kept[2]:
        return kept[3]
    moment = _utc_now().astimezone(tz)
    midnight = datetime.combine(moment.date() + timedelta(days=1), dt_time(0),
                                tzinfo=moment.tzinfo)
    left = (midnight - moment).total_seconds()
    day = moment.date().isoformat()
    _TODAY = (_utc_now, tz, time.monotonic() + min(1.0, left), day)
    return day
