"""Privacy rules as data: which entity types make a request personal, and what then happens.

Rules live in the policy file (section `privacy:`) so admins can edit them; the decision
is a pure function of findings and rules. Example::

    privacy:
      pii_regions: [eu, local]
      min_score: 0.5
      levels: {IP_ADDRESS: internal}          # entity type → level override
      actions: {personal: pin, special: pin}  # level → action
      entity_actions: {NATIONAL_ID: pin, CREDIT_CARD: block}   # type or type prefix → action
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from privacy.verdict import Finding, PrivacyAction, PrivacyVerdict, Sensitivity

DEFAULT_LEVELS: dict[str, Sensitivity] = {
    "PERSON": Sensitivity.PERSONAL,
    "EMAIL_ADDRESS": Sensitivity.PERSONAL,
    "USER_HANDLE": Sensitivity.PERSONAL,
    "PHONE_NUMBER": Sensitivity.PERSONAL,
    "IBAN_CODE": Sensitivity.PERSONAL,
    "CREDIT_CARD": Sensitivity.PERSONAL,
    "IP_ADDRESS": Sensitivity.PERSONAL,
    "NATIONAL_ID": Sensitivity.PERSONAL,
    "DATE_OF_BIRTH": Sensitivity.PERSONAL,
    "ADDRESS": Sensitivity.PERSONAL,
    "SPECIAL_CATEGORY": Sensitivity.SPECIAL,
}
# how strict an action is: the strictest one any finding asks for wins
_STRICTNESS = {PrivacyAction.ALLOW: 0, PrivacyAction.PSEUDONYMISE: 1, PrivacyAction.PIN: 2, PrivacyAction.BLOCK: 3}


class PrivacyRules(BaseModel):
    """Entity type → level, level → action, and the regions personal data may go to."""

    pii_regions: list[str] = Field(default_factory=lambda: ["eu", "local"])
    levels: dict[str, str] = Field(default_factory=dict)  # entity type -> level name (overrides)
    actions: dict[str, PrivacyAction] = Field(
        default_factory=lambda: {"personal": PrivacyAction.PIN, "special": PrivacyAction.PIN},
    )
    entity_actions: dict[str, PrivacyAction] = Field(default_factory=dict)  # type or prefix -> action
    min_score: float = 0.5

    def _lookup(self, table: dict[str, str] | dict[str, PrivacyAction], entity_type: str) -> str | None:
        if entity_type in table:
            return str(table[entity_type])
        prefix = max((k for k in table if entity_type.startswith(k + "_")), key=len, default=None)
        return str(table[prefix]) if prefix else None

    def level_of(self, entity_type: str) -> Sensitivity:
        override = self._lookup(self.levels, entity_type)
        if override is not None:
            return Sensitivity[override.upper()]
        if entity_type.startswith("NATIONAL_ID"):
            return Sensitivity.PERSONAL
        return DEFAULT_LEVELS.get(entity_type, Sensitivity.PERSONAL)

    def action_of(self, entity_type: str, level: Sensitivity) -> PrivacyAction:
        explicit = self._lookup(self.entity_actions, entity_type)
        if explicit is not None:
            return PrivacyAction(explicit)
        return self.actions.get(level.label, PrivacyAction.PIN)

    def verdict(self, findings: Iterable[Finding], *, language: str) -> PrivacyVerdict:
        kept = tuple(f for f in findings if f.score >= self.min_score)
        level = max((self.level_of(f.entity_type) for f in kept), default=Sensitivity.PUBLIC)
        if level < Sensitivity.PERSONAL:
            return PrivacyVerdict(level=level, action=PrivacyAction.ALLOW, findings=kept, language=language,
                                  reason="no personal data found")
        action = max((self.action_of(f.entity_type, self.level_of(f.entity_type)) for f in kept
                      if self.level_of(f.entity_type) >= Sensitivity.PERSONAL), key=_STRICTNESS.__getitem__)
        regions = frozenset(self.pii_regions) if action is PrivacyAction.PIN else None
        types = ", ".join(sorted({f.entity_type for f in kept}))
        return PrivacyVerdict(level=level, action=action, findings=kept, language=language,
                              allowed_regions=regions, reason=f"{level.label} data ({types}) → {action.value}")

    def pinned(self, *, reason: str, language: str, findings: tuple[Finding, ...] = (),
               failed_closed: bool = False) -> PrivacyVerdict:
        """A personal-level verdict pinned to the personal-data regions, whatever was found."""
        return PrivacyVerdict(level=Sensitivity.PERSONAL, action=PrivacyAction.PIN, findings=findings,
                              language=language, allowed_regions=frozenset(self.pii_regions),
                              failed_closed=failed_closed, reason=reason)

    def fail_closed(self, *, reason: str, language: str = "und") -> PrivacyVerdict:
        """The verdict when analysis failed or ran out of time: treat the request as personal."""
        return self.pinned(reason=f"privacy analysis failed closed: {reason}", language=language,
                           failed_closed=True)
