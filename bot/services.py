"""Wiring: builds every component once from the settings (the `build_*` factories live here)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.erasure import InMemoryErasure
from bot.memory.store import SqlMemoryStore, build_memory_store
from bot.metrics import PrometheusMetrics
from bot.pipeline import Classifier, Pipeline
from bot.policy_store import PolicyStore
from bot.pseudonymising import PromptPseudonymiser
from bot.readiness import Readiness
from bot.settings import Settings, provider_environment
from privacy.engine import PrivacyEngine, build_privacy_engine
from privacy.pseudonymise import PseudonymVault
from routing.cache import SemanticCache
from routing.classifier import build_task_classifier
from routing.embeddings import build_embedder
from routing.policy import load_policy
from routing.providers import LiteLLMClient, LLMClient, RetryPolicy
from routing.stats import LiveStats

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    settings: Settings
    memory: SqlMemoryStore
    policies: PolicyStore
    privacy: PrivacyEngine
    classifier: Classifier
    pipeline: Pipeline
    cache: SemanticCache | None = None
    readiness: Readiness = field(default_factory=Readiness)
    metrics: PrometheusMetrics = field(default_factory=PrometheusMetrics)  # this process's, at GET /metrics
    erasure: InMemoryErasure | None = None  # this process's cache and pseudonym vault, for `forget`

    async def warm_up(self, *, all_models: bool = True) -> None:
        """Load the NLP components now, in threads, rather than on the event loop at the first staff
        message; then `readiness` says warm. ``serve`` (``all_models``) also loads every NER model and
        the cache's embedding model, imports LiteLLM (3-6 s with its cost map) and does the lazy work
        of its first completion (`warm_litellm`), so the first answer stalls no other request.
        ``all_models=False`` (the CLI) leaves each language's NER model to load when that language is
        first met, and LiteLLM and the embedding model to the first call that needs them."""
        if all_models:
            from routing.litellm_env import warm_litellm

            # alone first: imports running side by side with other libraries' warning filters (process-
            # wide, not thread-safe) let LiteLLM's pydantic warnings through to the terminal
            await asyncio.to_thread(warm_litellm, [m.id for m in self.policies.seed.models if m.enabled])
        cache = self.cache if all_models else None
        await asyncio.gather(asyncio.to_thread(self.privacy.warm_up, models=all_models),
                             asyncio.to_thread(getattr(self.classifier, "warm_up", lambda: None)),
                             asyncio.to_thread(cache.warm_up if cache is not None else lambda: None))
        self.readiness.warm = True


async def build_services(settings: Settings, *, environ: Mapping[str, str] | None = None,
                         llm: LLMClient | None = None, privacy: PrivacyEngine | None = None,
                         classifier: Classifier | None = None) -> Services:
    """Every component from `settings`; already-loaded NLP components may be passed in to share them."""
    env = provider_environment(environ)
    memory = build_memory_store(settings.resolved_database_url, cipher=settings.cipher())
    await memory.create_schema()
    policies = PolicyStore(memory=memory, seed=load_policy(settings.policy_file))
    privacy = privacy or build_privacy_engine(timeout_s=settings.privacy_timeout_s,
                                             spacy_models=settings.spacy_model_paths)
    classifier = classifier or build_task_classifier()
    client = llm or LiteLLMClient(environ=env)
    cache = SemanticCache(embedder=build_embedder(), ttl_s=settings.cache_ttl_s) if settings.cache_enabled else None
    metrics = PrometheusMetrics()
    pseudonymiser = PromptPseudonymiser(analyze=privacy.analyze, vault=PseudonymVault(ttl_s=settings.pseudonym_ttl_s))
    pipeline = Pipeline(memory=memory, policies=policies, privacy=privacy, classifier=classifier, llm=client,
                        environ=env, max_message_chars=settings.max_message_chars,
                        history_turns=settings.history_turns, offline=settings.offline,
                        retry=RetryPolicy(retries=settings.llm_retries, base_s=settings.retry_base_s),
                        cache=cache, metrics=metrics, stats=LiveStats(observer=metrics),
                        pseudonymiser=pseudonymiser)
    return Services(settings=settings, memory=memory, policies=policies, privacy=privacy,
                    classifier=classifier, pipeline=pipeline, cache=cache, metrics=metrics,
                    erasure=InMemoryErasure(cache=cache, vault=pseudonymiser))
