"""How long a server asks us to wait: `Retry-After` (RFC 9110 §10.2.3) and `retry-after-ms`.

Used wherever a 429 or 503 is handled: provider calls (backoff and cooldowns) and the Teams
connector's retries.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

# A provider asking for a longer wait is probed again after this long anyway (the longest cooldown):
# a misconfigured or hostile `Retry-After: 86400` must not take a model out for a day.
RETRY_AFTER_CAP_S = 300.0


def parse_retry_after(value: str | None, *, now: float | None = None,
                      cap_s: float = RETRY_AFTER_CAP_S) -> float | None:
    """Seconds to wait from a `Retry-After` value, in [0, cap_s]; None when absent or unreadable.

    Both forms of RFC 9110 §10.2.3: delay-seconds (decimals are accepted too) and an HTTP-date in any
    of the three formats §5.6.7 requires recipients to read (IMF-fixdate, RFC 850, asctime). A date
    is measured from `now` (POSIX seconds; our clock when None); a date in the past means "now".
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        delay: float | None = float(text)
    except ValueError:
        at = _posix(text)
        delay = None if at is None else max(0.0, at - (time.time() if now is None else now))
    if delay is None or not math.isfinite(delay) or delay < 0:
        return None
    return min(delay, cap_s)


def retry_after_from_headers(headers: Any, *, cap_s: float = RETRY_AFTER_CAP_S) -> float | None:
    """The wait a response's headers ask for; None when they ask for none.

    `retry-after-ms` (OpenAI, Azure) wins over `Retry-After`, as in OpenAI's own client. An HTTP
    date is measured from the response's `Date` header when it has a readable one (the provider's
    clock on both sides, so a skewed clock here does not matter), else from our clock.
    """
    if not headers:
        return None
    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        try:
            ms = float(millis)
        except ValueError:
            ms = math.nan
        if math.isfinite(ms) and ms >= 0:
            return min(ms / 1000, cap_s)
    value = _header(headers, "retry-after")
    if value is None:
        return None
    date = _header(headers, "date")
    reference = _posix(date) if date is not None else None
    return parse_retry_after(value, now=reference, cap_s=cap_s)


def _header(headers: Any, name: str) -> str | None:
    """A header from a dict, httpx.Headers or multidict, whatever the case of its name."""
    value = headers.get(name)
    if value is None and isinstance(headers, Mapping):
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return None if value is None else str(value)


def _posix(http_date: str) -> float | None:
    try:
        parsed = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # asctime carries no zone; every HTTP date is UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
