"""Which Bot Framework service URLs the Teams adapter may call (`SWITCHBOARD_TEAMS_SERVICE_URLS`).

An activity names the connector to answer at (`serviceUrl`); the bot then POSTs there with its own
credentials. Only URLs under an allowed prefix are called, so a forged or replayed activity cannot
make the server send requests (or tokens) to internal addresses. The default is the public-cloud
Teams hosts of Microsoft's Teams SDK (which also leaves out `*.botframework.com` by default).
Loopback addresses are allowed only in the anonymous development mode (the Emulator, tests).

Pure: no botbuilder here, so the rule is one readable function over strings.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.errors import ConfigurationError

DEFAULT_TEAMS_SERVICE_URLS = (
    "https://smba.trafficmanager.net/",
    "https://smba.onyx.prod.teams.trafficmanager.net/",
    "https://smba.infra.gcc.teams.microsoft.com/",
)
SETTING = "SWITCHBOARD_TEAMS_SERVICE_URLS"
_PRINTABLE = re.compile(r"[!-~]{1,2048}")  # no spaces, controls or non-ASCII anywhere in the URL
_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")  # DNS name or IPv4 literal; no trailing dot
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True, slots=True)
class ServiceUrl:
    """A service URL cut into what the allow rule compares; `path` always ends with "/"."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def loopback(self) -> bool:
        ip = _ip(self.host)
        return self.host == "localhost" or (ip is not None and ip.is_loopback)

    def under(self, prefix: ServiceUrl) -> bool:
        return (self.scheme, self.host, self.port) == (prefix.scheme, prefix.host, prefix.port) \
            and self.path.startswith(prefix.path)


def split_service_url(url: object) -> ServiceUrl | None:
    """The parts of an http(s) service URL, or None for anything a URL parser could read two ways:
    credentials, backslashes, percent-escapes, dot segments, a query, a fragment, odd characters."""
    if not isinstance(url, str) or not _PRINTABLE.fullmatch(url) or "\\" in url or "%" in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is no number or out of range, a broken IPv6 literal
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in _DEFAULT_PORTS or "@" in parts.netloc or parts.query or parts.fragment \
            or "?" in url or "#" in url:
        return None
    if not _HOST.fullmatch(host) and _ip(host) is None:
        return None
    path = parts.path or "/"
    if not path.startswith("/") or any(segment in (".", "..") for segment in path.split("/")):
        return None
    return ServiceUrl(scheme=parts.scheme, host=host, port=port or _DEFAULT_PORTS[parts.scheme],
                      path=path if path.endswith("/") else path + "/")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class ServiceUrlAllowlist:
    """The URL prefixes the bot may send to, plus any loopback URL when `loopback` is on."""

    def __init__(self, prefixes: Iterable[ServiceUrl], *, loopback: bool) -> None:
        self.prefixes = tuple(prefixes)
        self.loopback = loopback

    @classmethod
    def from_setting(cls, value: str, *, loopback: bool) -> ServiceUrlAllowlist:
        """Parse the comma-separated setting; a bad entry is a start-up error that says how to write it."""
        prefixes = []
        for entry in (e.strip() for e in value.split(",")):
            if not entry:
                continue
            prefix = split_service_url(entry)
            if prefix is None or prefix.scheme != "https":
                raise ConfigurationError(f"{SETTING}: {entry!r} is not an https service URL; write "
                                         "https://HOST/ or https://HOST/PATH/, separated by commas.")
            if prefix.loopback or _ip(prefix.host) is not None:
                raise ConfigurationError(f"{SETTING}: {entry!r} names localhost or an IP address; list host "
                                         "names (loopback is allowed only with SWITCHBOARD_TEAMS_ANONYMOUS).")
            prefixes.append(prefix)
        if not prefixes and not loopback:
            raise ConfigurationError(f"{SETTING} is empty, so Teams could never be answered; leave it unset "
                                     "for Microsoft's Teams hosts or list the service URLs to allow.")
        return cls(prefixes, loopback=loopback)

    def allows(self, url: object) -> bool:
        parsed = split_service_url(url)
        if parsed is None:
            return False
        if self.loopback and parsed.loopback:
            return True
        return any(parsed.under(prefix) for prefix in self.prefixes)
