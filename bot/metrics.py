"""Prometheus metrics of one `serve` process, exposed at `GET /metrics`.

Labels are bounded and content-free: model, region, task, strategy, outcome, privacy level and action.
Never a user, channel, tenant or text: a metric series lives forever in the monitoring system and would
otherwise be personal data there. Each replica has its own registry and exposes its own figures; the
monitoring system sums over replicas (README, *Metrics*).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

from bot.memory.models import Decision

ANSWER_LABELS = ("model", "region", "task", "strategy", "outcome")
CALL_LABELS = ("model", "region", "task", "strategy")
# seconds; 3 s is the brief's bound for simple answers, 120 s the default answer deadline
LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0)
NONE = "none"  # the label value when nothing was decided (a blocked message has no model)


class PrometheusMetrics:
    """What the pipeline and the provider attempts report, as Prometheus counters, histograms and gauges."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.answers = Counter("switchboard_answers", "Messages handled, by how they ended (answered, failed, "
                               "offline, refused, blocked)", ANSWER_LABELS, registry=r)
        self.latency = Histogram("switchboard_answer_seconds", "From taking the message to the answer (or refusal)",
                                 ANSWER_LABELS, buckets=LATENCY_BUCKETS, registry=r)
        self.first_token = Histogram("switchboard_first_token_seconds", "From taking the message to the answering "
                                     "model's first token (streamed answers)", CALL_LABELS,
                                     buckets=FIRST_TOKEN_BUCKETS, registry=r)
        self.tokens = Counter("switchboard_tokens", "Tokens of the answering model", (*CALL_LABELS, "kind"),
                              registry=r)
        self.cost = Counter("switchboard_cost_usd", "Cost in USD (with cascade tiers, ensemble members, judge)",
                            CALL_LABELS, registry=r)
        self.fallbacks = Counter("switchboard_fallbacks", "Answers given by a fallback (an earlier model failed)",
                                 CALL_LABELS, registry=r)
        self.escalations = Counter("switchboard_escalations", "Cascade answers escalated to a higher tier",
                                   CALL_LABELS, registry=r)
        self.cache_hits = Counter("switchboard_cache_hits", "Answers served from the semantic cache",
                                  CALL_LABELS, registry=r)
        self.verdicts = Counter("switchboard_privacy_verdicts", "Privacy verdicts over what would be sent",
                                ("level", "action"), registry=r)
        self.in_flight = Gauge("switchboard_answers_in_flight", "Messages being answered now", registry=r)
        self.attempts = Counter("switchboard_provider_attempts", "Provider calls by result (ok, error)",
                                ("model", "result"), registry=r)
        self.calls_in_flight = Gauge("switchboard_provider_calls_in_flight", "Provider calls in progress (load)",
                                     ("model",), registry=r)
        ProcessCollector(registry=r)  # CPU, memory, open files of this replica

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # --- the pipeline ------------------------------------------------------------------

    def verdict(self, *, level: str, action: str) -> None:
        self.verdicts.labels(level=level, action=action).inc()

    def answer_started(self) -> None:
        self.in_flight.inc()

    def answer_ended(self) -> None:
        self.in_flight.dec()

    def answer_finished(self, record: Decision, *, first_token_s: float | None) -> None:
        """One finished message, from its decision record (`record.outcome` set)."""
        call = {"model": record.model or NONE, "region": record.region or NONE, "task": record.task or NONE,
                "strategy": record.strategy or NONE}
        self.answers.labels(**call, outcome=record.outcome).inc()
        self.latency.labels(**call, outcome=record.outcome).observe(record.latency_ms / 1000)
        if record.outcome != "answered":
            return
        if record.cached:
            self.cache_hits.labels(**call).inc()
            return
        if first_token_s is not None:
            self.first_token.labels(**call).observe(first_token_s)
        self.tokens.labels(**call, kind="prompt").inc(record.prompt_tokens)
        self.tokens.labels(**call, kind="completion").inc(record.completion_tokens)
        self.cost.labels(**call).inc(record.cost_usd)
        if record.fallback:
            self.fallbacks.labels(**call).inc()
        if record.escalated:
            self.escalations.labels(**call).inc()

    # --- provider attempts (routing.stats.AttemptObserver) -----------------------------

    def started(self, model_id: str) -> None:
        self.calls_in_flight.labels(model=model_id).inc()

    def finished(self, model_id: str, *, latency_ms: float, ok: bool) -> None:
        self.calls_in_flight.labels(model=model_id).dec()
        self.attempts.labels(model=model_id, result="ok" if ok else "error").inc()

    def abandoned(self, model_id: str) -> None:
        self.calls_in_flight.labels(model=model_id).dec()
