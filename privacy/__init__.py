"""Personal-data detection, the sensitivity verdict and pseudonymisation."""

from privacy.engine import PrivacyEngine, Segment, TextAnalysis, build_privacy_engine
from privacy.rules import PrivacyRules
from privacy.verdict import Finding, PrivacyAction, PrivacyVerdict, Sensitivity

__all__ = [
    "Finding", "PrivacyAction", "PrivacyEngine", "PrivacyRules", "PrivacyVerdict", "Segment",
    "Sensitivity", "TextAnalysis", "build_privacy_engine",
]
