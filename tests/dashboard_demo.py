"""Plausible decision records for the admin dashboard: the screenshot test, the README's screenshot and
`bench/bench_dashboard.py`. Deterministic for a seed; the figures are made up, not measured."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from bot.memory.models import Decision, Feedback
from bot.memory.store import SqlMemoryStore
from bot.types import Identity

TASKS = (("general", 0.45), ("summarization", 0.18), ("translation", 0.12), ("code", 0.11), ("analysis", 0.09),
         ("creative", 0.05))

OUTCOMES, OUTCOME_WEIGHTS = ("answered", "failed", "offline", "refused"), (0.95, 0.025, 0.015, 0.01)


@dataclass(frozen=True, slots=True)
class DemoModel:
    id: str
    region: str
    tier: str
    cost_usd: float  # per answer, on average
    latency_ms: float  # median


# models of the default policy (routing/data/default_policy.yaml)
DEFAULT_MODELS = (
    DemoModel("mistral/mistral-small-latest", "eu", "cheap", 0.0004, 800),
    DemoModel("azure/eu/gpt-4o-mini", "eu", "cheap", 0.0005, 900),
    DemoModel("ollama/llama3.1", "local", "cheap", 0.0, 1300),
    DemoModel("openai/gpt-4o-mini", "us", "cheap", 0.0005, 850),
    DemoModel("mistral/mistral-large-latest", "eu", "mid", 0.006, 1500),
    DemoModel("azure/eu/gpt-4o", "eu", "premium", 0.02, 1900),
    DemoModel("anthropic/claude-sonnet-4-5", "us", "premium", 0.03, 2300),
)


def demo_decisions(n: int, *, now: datetime, period: timedelta, models: Sequence[DemoModel] = DEFAULT_MODELS,
                   seed: int = 12, violations: int = 1) -> list[Decision]:
    """`n` decision records spread over [now - period, now), traffic growing a little over time; about 20% hold
    personal data and go to EU or local models, except `violations` of them, answered in the US."""
    rng = random.Random(seed)
    tiers = {t: [m for m in models if m.tier == t] for t in ("cheap", "mid", "premium")}
    out = []
    for i in range(n):
        age = period * (1 - rng.random() ** 0.8)
        tier = rng.choices(("cheap", "mid", "premium"), weights=(0.78, 0.16, 0.06))[0]
        personal = i < violations or rng.random() < 0.2
        pool = [m for m in tiers[tier] if not personal or m.region in ("eu", "local")] or tiers[tier]
        if personal and i < violations:
            pool = [m for m in models if m.region not in ("eu", "local")]
        model = rng.choice(pool)
        outcome = "answered" if i < violations else rng.choices(OUTCOMES, weights=OUTCOME_WEIGHTS)[0]
        latency = model.latency_ms * rng.lognormvariate(0, 0.35) if outcome != "failed" else 30_000.0
        out.append(Decision(
            platform="slack", tenant="T0DEMO", channel=f"C{rng.randrange(6)}", user=f"U{rng.randrange(40)}",
            policy_version=1, sensitivity="personal" if personal else rng.choice(("public", "internal")),
            entity_types="PERSON,EMAIL_ADDRESS" if personal else "",
            task=rng.choices([t for t, _ in TASKS], weights=[w for _, w in TASKS])[0], strategy="task",
            model=model.id, region=model.region, prompt_tokens=rng.randrange(50, 1500),
            completion_tokens=rng.randrange(20, 800),
            cost_usd=model.cost_usd * rng.uniform(0.5, 1.5) if outcome == "answered" else 0.0,
            latency_ms=latency, outcome=outcome, fallback=outcome == "answered" and rng.random() < 0.03,
            cached=outcome == "answered" and rng.random() < 0.05, created_at=now - age))
    return out


async def seed_store(store: SqlMemoryStore, decisions: Sequence[Decision], *, vote_share: float = 0.1,
                     seed: int = 12) -> None:
    """Insert `decisions` through the store, with a 👍 (mostly) or 👎 from a colleague on some of them."""
    rng = random.Random(seed)
    for d in decisions:
        decision_id = await store.record_decision(d)
        if d.outcome == "answered" and rng.random() < vote_share:
            voter = Identity(d.platform, d.tenant, "UVOTER")
            await store.add_feedback(decision_id=decision_id, user=voter, score=1 if rng.random() < 0.82 else -1)


def bulk_insert(store: SqlMemoryStore, decisions: Sequence[Decision], *, vote_share: float = 0.1,
                seed: int = 12) -> None:
    """The same, in a few large INSERTs straight into the store's tables (100k records in seconds)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows = [d.model_dump(exclude={"id"}) for d in decisions]
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Decision), rows[start:start + 5000])
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id, outcome FROM decision") if r[1] == "answered"]
        votes = [{"decision_id": i, "platform": "slack", "tenant": "T0DEMO", "user": "UVOTER", "created_at": now,
                  "score": 1 if rng.random() < 0.82 else -1} for i in ids if rng.random() < vote_share]
        for start in range(0, len(votes), 5000):
            conn.execute(insert(Feedback), votes[start:start + 5000])
