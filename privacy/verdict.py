"""The privacy verdict: what personal data a request carries and what the policy does about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class Sensitivity(IntEnum):
    """Ordered levels; anything at PERSONAL or above is personal data under GDPR."""

    PUBLIC = 0
    INTERNAL = 1
    PERSONAL = 2
    SPECIAL = 3  # GDPR Art. 9 categories (health, religion, union membership…) about a person

    @property
    def label(self) -> str:
        return self.name.lower()


class PrivacyAction(StrEnum):
    ALLOW = "allow"  # any region the routing policy picks
    PIN = "pin"  # only the regions the privacy rules allow (EU / local by default)
    PSEUDONYMISE = "pseudonymise"  # replace values by placeholders, then any region
    BLOCK = "block"  # refuse the request


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected entity. Holds positions, never the value, so it is safe to log and store."""

    entity_type: str
    start: int
    end: int
    score: float
    segment: str = "message"  # "message", "history", "system"
    source: str = ""  # which recognizer found it ("rules", "model", …): the combination reads it


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyVerdict:
    level: Sensitivity
    action: PrivacyAction
    findings: tuple[Finding, ...] = ()
    language: str = "en"
    allowed_regions: frozenset[str] | None = None  # None: no restriction
    failed_closed: bool = False
    reason: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def contains_pii(self) -> bool:
        return self.level >= Sensitivity.PERSONAL

    @property
    def entity_types(self) -> list[str]:
        return sorted({f.entity_type for f in self.findings})

    def allows(self, region: str) -> bool:
        return self.allowed_regions is None or region in self.allowed_regions
