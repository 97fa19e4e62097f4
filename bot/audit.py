"""The audit trail (GDPR Art. 30): decision records and admin entries exported, residency verified.

Everything here is content-free: a decision record holds entity *types*, never values, and no message
text. `trail_rows` turns records into export rows (`switchboard audit --since … --format csv|json`);
`verify_residency` checks every record with personal data against the personal-data regions of the
policy version that was in force when it was made (`switchboard audit --verify-residency`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.errors import PolicyValidationError
from bot.memory.models import AuditEntry, Decision, PolicyVersion
from privacy.rules import PrivacyRules
from routing.policy import Policy, policy_from_yaml

PERSONAL_LEVELS = frozenset({"personal", "special"})
# a pseudonymised request carried placeholders, never the values: any region may take it
VALUES_LEFT_PSEUDONYMISED = "pseudonymise"

DECISION_FIELDS = (
    "kind", "id", "created_at", "platform", "tenant", "channel", "user", "conversation_id", "policy_version",
    "sensitivity", "contains_pii", "privacy_action", "entity_types", "task", "strategy", "model", "region",
    "attempts", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "outcome", "cached", "fallback",
    "escalated",
)
ADMIN_FIELDS = ("actor", "command", "allowed", "admin_outcome")
FIELDS = (*DECISION_FIELDS, *ADMIN_FIELDS)


def contains_pii(record: Decision) -> bool:
    return record.sensitivity in PERSONAL_LEVELS


def attempts_of(record: Decision) -> list[dict[str, Any]]:
    """The models called for a record, in order; an unreadable or missing list is empty."""
    try:
        value = json.loads(record.attempts) if record.attempts else []
    except json.JSONDecodeError:
        return []
    return [a for a in value if isinstance(a, dict)] if isinstance(value, list) else []


def admin_kind(entry: AuditEntry) -> str:
    """How an admin entry is marked: a change made, a change rejected (bad input), or a refusal."""
    if not entry.allowed:
        return "admin_refusal"
    return "admin_change" if entry.outcome.startswith("ok") else "admin_rejected"


def _utc(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def decision_row(record: Decision) -> dict[str, Any]:
    return {
        "kind": "decision", "id": record.id, "created_at": _utc(record.created_at), "platform": record.platform,
        "tenant": record.tenant, "channel": record.channel, "user": record.user,
        "conversation_id": record.conversation_id, "policy_version": record.policy_version,
        "sensitivity": record.sensitivity, "contains_pii": contains_pii(record),
        "privacy_action": record.privacy_action,
        "entity_types": [t for t in record.entity_types.split(",") if t], "task": record.task,
        "strategy": record.strategy, "model": record.model, "region": record.region,
        "attempts": attempts_of(record), "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens, "cost_usd": record.cost_usd,
        "latency_ms": round(record.latency_ms, 1), "outcome": record.outcome, "cached": record.cached,
        "fallback": record.fallback, "escalated": record.escalated,
    }


def admin_row(entry: AuditEntry) -> dict[str, Any]:
    return {"kind": admin_kind(entry), "id": entry.id, "created_at": _utc(entry.created_at),
            "platform": entry.platform, "actor": entry.actor, "command": entry.command, "allowed": entry.allowed,
            "admin_outcome": entry.outcome}


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailFilter:
    region: str | None = None  # records answered or tried in this region
    contains_pii: bool = False  # only records with personal data

    @property
    def decisions_only(self) -> bool:
        return self.region is not None or self.contains_pii

    def keeps(self, record: Decision) -> bool:
        if self.contains_pii and not contains_pii(record):
            return False
        if self.region is not None:
            regions = {record.region} | {str(a.get("region", "")) for a in attempts_of(record)}
            return self.region in regions
        return True


def trail_rows(decisions: Iterable[Decision], entries: Iterable[AuditEntry],
               keep: TrailFilter = TrailFilter()) -> list[dict[str, Any]]:
    """Export rows, oldest first: the decision records `keep` keeps, and the admin entries unless the
    filter is about decisions (a region or personal data)."""
    rows = [decision_row(d) for d in decisions if keep.keeps(d)]
    if not keep.decisions_only:
        rows += [admin_row(e) for e in entries]
    return sorted(rows, key=lambda r: (r["created_at"], r["kind"] != "decision", r["id"] or 0))


def to_json(rows: Sequence[dict[str, Any]]) -> str:
    """One JSON object per line (JSON Lines)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """A header of every field, one line per row; lists are JSON in their cell, a field a row lacks is empty."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list | bool) else ("" if v is None else v)
                         for k, v in row.items()})
    return out.getvalue()


# --- residency --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    decision_id: int
    created_at: str
    policy_version: int
    allowed: tuple[str, ...]
    where: tuple[str, ...]  # "role model@region" for each call outside the allowed regions

    def describe(self) -> str:
        return (f"decision {self.decision_id} ({self.created_at}, policy v{self.policy_version}, personal data "
                f"allowed in {'/'.join(self.allowed)}): " + "; ".join(self.where))


@dataclass(frozen=True, slots=True)
class ResidencyReport:
    checked: int  # records in the period
    personal: int  # of them with personal data
    pseudonymised: int  # personal records sent as placeholders only (any region allowed)
    violations: tuple[Violation, ...]

    def joined(self, other: ResidencyReport) -> ResidencyReport:
        return ResidencyReport(self.checked + other.checked, self.personal + other.personal,
                               self.pseudonymised + other.pseudonymised, self.violations + other.violations)

    def describe(self) -> str:
        head = (f"{self.checked} decision records checked, {self.personal} with personal data "
                f"({self.pseudonymised} pseudonymised before leaving)")
        if not self.violations:
            return f"{head}: every one was answered, tried, judged and served from cache in its allowed regions."
        return "\n".join([f"{head}: {len(self.violations)} RESIDENCY VIOLATION(S):",
                          *(f"  {v.describe()}" for v in self.violations)])


class PolicyHistory:
    """The personal-data rules in force for a record: the stored version it names, else the version in
    force when it was made, else the defaults (a database older than stored policies)."""

    def __init__(self, versions: Sequence[PolicyVersion]) -> None:
        self._versions = sorted(versions, key=lambda v: v.version)
        self._parsed: dict[int, Policy | None] = {}

    def policy(self, record: Decision) -> Policy | None:
        row = next((v for v in self._versions if v.version == record.policy_version), None)
        if row is None:
            made = record.created_at if record.created_at.tzinfo else record.created_at.replace(tzinfo=UTC)
            earlier = [v for v in self._versions if _aware(v.created_at) <= made]
            row = earlier[-1] if earlier else None
        if row is None:
            return None
        if row.version not in self._parsed:
            try:
                self._parsed[row.version] = policy_from_yaml(row.body, source=f"stored version {row.version}")
            except PolicyValidationError:  # a version a later release would reject: its regions still count
                self._parsed[row.version] = None
        return self._parsed[row.version]

    def pii_regions(self, record: Decision) -> tuple[str, ...]:
        policy = self.policy(record)
        rules = policy.privacy if policy is not None else PrivacyRules()
        return tuple(rules.pii_regions)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def verify_residency(decisions: Iterable[Decision], versions: Sequence[PolicyVersion] | PolicyHistory,
                     ) -> ResidencyReport:
    """Every record with personal data whose request went (answered, tried, judged, verified, ensemble
    member) or whose answer came from the cache outside the personal-data regions of its policy version.
    A call whose region was not recorded is looked up in that version's model table; unknown counts as
    outside. Records pseudonymised before leaving are exempt: only placeholders left. Pages of a long
    history are checked one by one (pass one `PolicyHistory`) and their reports `joined`."""
    history = versions if isinstance(versions, PolicyHistory) else PolicyHistory(versions)
    checked = personal = pseudonymised = 0
    found = []
    for record in decisions:
        checked += 1
        if not contains_pii(record):
            continue
        personal += 1
        if record.privacy_action == VALUES_LEFT_PSEUDONYMISED:
            pseudonymised += 1
            continue
        allowed = history.pii_regions(record)
        outside = [f"{role} {model}@{region or 'unknown region'}"
                   for role, model, region in _calls(record, history.policy(record)) if region not in allowed]
        if outside:
            assert record.id is not None
            found.append(Violation(record.id, _utc(record.created_at), record.policy_version, allowed,
                                   tuple(dict.fromkeys(outside))))
    return ResidencyReport(checked, personal, pseudonymised, tuple(found))


def _calls(record: Decision, policy: Policy | None) -> list[tuple[str, str, str]]:
    """(role, model, region) for every call a record lists, and its answering model when it answered."""
    regions = {m.id: m.region for m in policy.models} if policy is not None else {}
    calls = [(str(a.get("role", "answer")), str(a.get("model", "")),
              str(a.get("region") or regions.get(str(a.get("model", "")), ""))) for a in attempts_of(record)]
    if record.outcome == "answered" and record.model:
        role = "cache" if record.cached else "answer"
        calls.append((role, record.model, record.region or regions.get(record.model, "")))
    return calls
