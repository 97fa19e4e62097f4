"""Adaptive Cards for Teams, as plain JSON dicts (no botbuilder import, so they are easy to test).

The answer text travels in the message's `text`; the card under it carries the footer (model,
region, cost). Votes come from Teams' own 👍/👎 (the feedback loop the adapter enables on answers); the
`Action.Submit` buttons of cards sent by earlier versions still count (`feedback_vote`).
"""

from __future__ import annotations

from typing import Any

from bot.i18n import t
from bot.types import Reply, ReplyKind

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
FEEDBACK_ACTION = "feedback"
_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"

Card = dict[str, Any]


def attachment(card: Card) -> dict[str, Any]:
    return {"contentType": CARD_CONTENT_TYPE, "content": card}


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> Card:
    card: Card = {"type": "AdaptiveCard", "$schema": _SCHEMA, "version": "1.5", "body": body}
    if actions:
        card["actions"] = actions
    return card


def footer_text(reply: Reply) -> str:
    parts = [reply.model or "—", reply.region or "—", f"${reply.cost_usd:.5f}"]
    if reply.fallback:
        parts.append("fallback")
    if reply.cached:
        parts.append("cache")
    return " · ".join(parts)


def answer_card(reply: Reply) -> Card | None:
    """Footer card for an answer; None when the reply names no model (errors, refusals)."""
    if reply.kind not in (ReplyKind.ANSWER, ReplyKind.OFFLINE) or not reply.model:
        return None
    body = [{"type": "TextBlock", "text": footer_text(reply), "size": "Small", "isSubtle": True, "wrap": True}]
    return _card(body)


def welcome_card(locale: str) -> Card:
    """The introduction posted when the app is added to a team, a group chat or a personal scope."""
    return _card([
        {"type": "TextBlock", "text": "Switchboard", "weight": "Bolder", "size": "Large"},
        {"type": "TextBlock", "text": t("slack_greeting", locale), "wrap": True},
        {"type": "TextBlock", "text": t("teams_welcome", locale), "wrap": True, "spacing": "Medium"},
    ])


def feedback_vote(value: object) -> tuple[int, int] | None:
    """(decision_id, score) from an Action.Submit payload of our footer card, else None."""
    if not isinstance(value, dict) or value.get("switchboard") != FEEDBACK_ACTION:
        return None
    decision_id, score = value.get("decision_id"), value.get("score")
    if not isinstance(decision_id, int) or isinstance(decision_id, bool) or score not in (1, -1):
        return None
    return decision_id, int(score)


def policy_card(policy: dict[str, Any]) -> Card:
    """The policy in force (`Policy.model_dump(mode="json")`) as facts an admin can scan."""
    privacy = policy.get("privacy", {})
    actions = ", ".join(f"{k} → {v}" for k, v in privacy.get("actions", {}).items())
    rules = [{"title": task, "value": f"{rule['strategy']} → {', '.join(rule['candidates'])}"}
             for task, rule in policy.get("rules", {}).items()]
    models = [{"title": m["id"], "value": f"{m['region']}, {m['tier']}" + ("" if m.get("enabled", True)
                                                                         else ", DISABLED")}
              for m in policy.get("models", [])]
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": f"Policy v{policy.get('version', '?')}", "weight": "Bolder", "size": "Medium"},
        {"type": "TextBlock", "wrap": True,
         "text": f"Personal data → {', '.join(privacy.get('pii_regions', []))} only; {actions}"},
        {"type": "TextBlock", "text": "Tasks", "weight": "Bolder", "spacing": "Medium"},
        {"type": "FactSet", "facts": rules},
        {"type": "TextBlock", "text": "Models", "weight": "Bolder", "spacing": "Medium"},
        {"type": "FactSet", "facts": models},
    ]
    return _card(body)
