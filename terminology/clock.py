"""What day it is for the server: the default date of service when a request names none.

One time zone decides it, stated rather than inherited from the machine: `TX_TIMEZONE` (an IANA
name such as `America/Chicago`, from the system's time-zone database), UTC by default. Every
"today" of the engine (the CPT year in force, the add-on edits and MUE limits in force, the
answer cache's day) comes from `today()`.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone, tzinfo
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


def zone() -> tzinfo:
    """The server's time zone (raises ValueError for an unknown `TX_TIMEZONE`)."""
    return _zone(os.environ.get(ENV) or "UTC")


def now() -> datetime:
    """The current time (UTC): the one clock of the server, so that tests can move it."""
    return _utc_now()


def today() -> str:
    """Today's date (ISO, YYYY-MM-DD) in the server's time zone."""
    return _utc_now().astimezone(zone()).date().isoformat()
