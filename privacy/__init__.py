"""Personal-data detection, the sensitivity verdict and pseudonymisation.

``build_privacy_engine()`` → ``PrivacyEngine``: ``analyze(text)`` (sync) and
``await assess(segments, rules=...)`` → ``PrivacyVerdict`` over everything that would be sent.
``PseudonymVault`` (privacy.pseudonymise) replaces values by typed placeholders and restores them.
"""

from privacy.engine import PrivacyEngine, Segment, TextAnalysis, build_privacy_engine
from privacy.pseudonymise import PseudonymVault, StreamRestorer
from privacy.rules import PrivacyRules
from privacy.verdict import Finding, PrivacyAction, PrivacyVerdict, Sensitivity

__all__ = [
    "Finding", "PrivacyAction", "PrivacyEngine", "PrivacyRules", "PrivacyVerdict", "PseudonymVault",
    "Segment", "Sensitivity", "StreamRestorer", "TextAnalysis", "build_privacy_engine",
]
