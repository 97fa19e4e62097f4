"""The routing policy as data: one model table, rules per task, privacy rules, system prompt.

A policy is loaded from YAML (the bundled default, a file, or a stored version), validated
as a whole, and never mutated: admin changes produce a new `Policy` with a higher version.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from bot.errors import ConfigurationError, PolicyValidationError
from privacy.rules import PrivacyRules
from privacy.yamlfile import load_yaml

TASKS: tuple[str, ...] = ("creative", "code", "analysis", "translation", "summarization", "general")
REGIONS: tuple[str, ...] = ("eu", "local", "us", "global")


class Tier(StrEnum):
    CHEAP = "cheap"
    MID = "mid"
    PREMIUM = "premium"

    @property
    def rank(self) -> int:
        return list(Tier).index(self)


class Strategy(StrEnum):
    TASK = "task"
    CASCADE = "cascade"
    ENSEMBLE = "ensemble"
    DYNAMIC = "dynamic"


class ModelSpec(BaseModel, frozen=True):
    """One model Switchboard may call: LiteLLM id, where data goes, what it costs."""

    id: str
    region: str
    tier: Tier
    tasks: tuple[str, ...] = TASKS
    env: tuple[str, ...] = ()  # environment variables the provider needs
    api_base: str | None = None
    api_key_env: str | None = None  # pass this variable as the key (else LiteLLM's usual name)
    input_price: float | None = None  # USD per 1M tokens; None: LiteLLM's cost map
    output_price: float | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.region not in REGIONS:
            raise ValueError(f"model {self.id}: region must be one of {', '.join(REGIONS)}")
        unknown = set(self.tasks) - set(TASKS)
        if unknown:
            raise ValueError(f"model {self.id}: unknown tasks {sorted(unknown)}")
        return self

    def prices(self) -> tuple[float, float]:
        """(input, output) USD per 1M tokens, from the policy or LiteLLM's cost map."""
        if self.input_price is not None and self.output_price is not None:
            return self.input_price, self.output_price
        return _cost_map_prices(self.id)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        inp, out = self.prices()
        return (prompt_tokens * inp + completion_tokens * out) / 1_000_000


class TaskRule(BaseModel, frozen=True):
    strategy: Strategy = Strategy.TASK
    candidates: tuple[str, ...]
    critical: bool = False  # ensemble-worthy work (e.g. contract review)
    cache: bool = True  # may answers for this task be served from the semantic cache
    # cascade: a verifier model grades a cheaper tier's answer before it is kept (one more call per
    # answer); off, only the free heuristic (hedging, refusals, curt answers) decides to escalate
    verifier: bool = True


class Deadlines(BaseModel, frozen=True):
    """How long an answer may take, in seconds.

    Per attempt (one request to one model): `connect_s` to open the connection (applied where
    LiteLLM passes httpx timeouts through: OpenAI-compatible, Azure, Bedrock; elsewhere
    `first_token_s` bounds the connect too), `first_token_s` from sending the request to the first
    streamed chunk, `stall_s` between two chunks. A timed-out model is not retried while another
    model can answer: the next one starts at once. `total_s` bounds the whole answer: every retry, fallback,
    cascade tier, ensemble member, judge and verifier; when it passes the work is cancelled and
    staff get an apology.
    """

    connect_s: float = Field(default=3.0, ge=0.1, le=60)
    first_token_s: float = Field(default=10.0, ge=0.1, le=300)
    stall_s: float = Field(default=10.0, ge=0.1, le=300)
    total_s: float = Field(default=120.0, ge=0.5, le=900)

    @model_validator(mode="after")
    def _check(self) -> Deadlines:
        if self.connect_s > self.first_token_s:
            raise ValueError(f"connect_s ({self.connect_s:g}) must not exceed first_token_s ({self.first_token_s:g}): "
                             "the first token cannot come before the connection")
        for name in ("first_token_s", "stall_s"):
            value = getattr(self, name)
            if 2 * value > self.total_s:
                raise ValueError(f"{name} ({value:g}) must be at most half of total_s ({self.total_s:g}), so a "
                                 "fallback still has time after a hung model; lower it or raise total_s")
        return self


class Policy(BaseModel, frozen=True):
    version: int = 1
    models: tuple[ModelSpec, ...]
    rules: dict[str, TaskRule]
    privacy: PrivacyRules = Field(default_factory=PrivacyRules)
    deadlines: Deadlines = Field(default_factory=Deadlines)
    system_prompt: str = ""

    @model_validator(mode="after")
    def _check(self) -> Policy:
        ids = [m.id for m in self.models]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"models listed twice: {sorted(dupes)}")
        missing_tasks = set(TASKS) - set(self.rules)
        if missing_tasks:
            raise ValueError(f"no rule for tasks {sorted(missing_tasks)}")
        for task, rule in self.rules.items():
            if task not in TASKS:
                raise ValueError(f"rule for unknown task {task!r}; tasks are {', '.join(TASKS)}")
            unknown = [c for c in rule.candidates if c not in ids]
            if unknown:
                raise ValueError(f"rule {task}: unknown models {unknown}; add them to `models` first")
        bad_regions = set(self.privacy.pii_regions) - {"eu", "local"}
        if bad_regions:
            raise ValueError(
                f"personal data may only go to eu or local models, not {sorted(bad_regions)} (GDPR)",
            )
        if not any(m.enabled and m.region in self.privacy.pii_regions for m in self.models):
            raise ValueError("no enabled eu/local model is left: requests with personal data could not be "
                             "answered; enable one first")
        return self

    def model(self, model_id: str) -> ModelSpec:
        for m in self.models:
            if m.id == model_id:
                return m
        raise PolicyValidationError(f"unknown model {model_id!r}; `policy show` lists the models")

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def policy_from_data(data: Any, *, source: str) -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}" for e in exc.errors()
        )
        raise PolicyValidationError(f"invalid policy from {source}: {problems}") from exc


def policy_from_yaml(text: str, *, source: str = "YAML") -> Policy:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise PolicyValidationError(f"policy from {source} is not valid YAML: {exc}") from exc
    return policy_from_data(data, source=source)


def default_policy_text() -> str:
    return resources.files("routing").joinpath("data/default_policy.yaml").read_text(encoding="utf-8")


def load_policy(path: Path | None = None) -> Policy:
    """The policy in `path`, or the bundled default."""
    if path is None:
        return policy_from_yaml(default_policy_text(), source="the bundled default policy")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read policy file {path}: {exc.strerror}; fix SWITCHBOARD_POLICY_FILE",
        ) from exc
    return policy_from_yaml(text, source=str(path))


@cache
def _cost_map_prices(model_id: str) -> tuple[float, float]:
    from routing.litellm_env import cost_map

    costs = cost_map()
    entry = costs.get(model_id) or costs.get(model_id.split("/", 1)[-1]) or {}
    inp = float(entry.get("input_cost_per_token") or 0.0) * 1_000_000
    out = float(entry.get("output_cost_per_token") or 0.0) * 1_000_000
    return inp, out
