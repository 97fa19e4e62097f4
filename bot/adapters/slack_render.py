"""Replies as Slack sees them: Markdown → mrkdwn, safe splitting, Block Kit with footer and 👍/👎.

Pure functions over text and `Reply`; no Slack client here, so they are tested without a network.
"""

from __future__ import annotations

import re
from typing import Any

from bot.i18n import t
from bot.types import Reply, ReplyKind

MESSAGE_LIMIT = 3_500  # per message; Slack truncates the display at 4,000 characters
SECTION_LIMIT = 2_900  # a section block's text may hold at most 3,000 characters
FEEDBACK_UP = "switchboard_feedback_up"
FEEDBACK_DOWN = "switchboard_feedback_down"

_FENCE = "```"
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s)]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_BOLD_MARK = "\x00"


def escape(text: str) -> str:
    """Slack's three control characters; everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Common LLM Markdown (bold, italics, links, headings, lists, code) as Slack mrkdwn."""
    out: list[str] = []
    in_code = False
    for line in markdown.split("\n"):
        if line.lstrip().startswith(_FENCE):
            in_code = not in_code
            out.append(_FENCE)  # Slack ignores language tags; drop them
            continue
        out.append(escape(line) if in_code else _line(line))
    return "\n".join(out)


def _line(line: str) -> str:
    heading = _HEADING.match(line)
    if heading:
        return f"*{_inline(heading.group(1)).replace('*', '')}*"
    bullet = _BULLET.match(line)
    if bullet:
        return f"{bullet.group(1)}• {_inline(line[bullet.end():])}"
    return _inline(line)


def _inline(text: str) -> str:
    parts = _CODE_SPAN.split(text)
    return "".join(escape(p) if i % 2 else _styles(escape(p)) for i, p in enumerate(parts))


def _styles(text: str) -> str:
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(1) or m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    return text.replace(_BOLD_MARK, "*")


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pieces of at most ~`limit` characters, cut at paragraph, line or word boundaries.

    A code block cut in two is closed at the end of one piece and reopened in the next, so
    each piece renders on its own.
    """
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _boundary(rest, limit)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n")
    pieces.append(rest.rstrip())
    return _balance_fences([p for p in pieces if p.strip()] or [""])


def _boundary(text: str, limit: int) -> int:
    window = text[:limit]
    for sep, floor in (("\n\n", limit // 2), ("\n", limit // 3), (" ", limit // 3)):
        at = window.rfind(sep)
        if at > floor:
            return at + len(sep)
    return limit


def _balance_fences(pieces: list[str]) -> list[str]:
    out: list[str] = []
    reopen = False
    for piece in pieces:
        if reopen:
            piece = f"{_FENCE}\n{piece}"
        open_now = sum(line.lstrip().startswith(_FENCE) for line in piece.split("\n")) % 2 == 1
        out.append(f"{piece}\n{_FENCE}" if open_now else piece)
        reopen = open_now
    return out


def footer(reply: Reply, locale: str) -> str | None:
    """`model · region · $cost · cached/fallback`, or None for texts no model wrote."""
    if reply.kind not in (ReplyKind.ANSWER, ReplyKind.OFFLINE) or not reply.model:
        return None
    parts = [reply.model, reply.region or "?"]
    if reply.kind is ReplyKind.OFFLINE:
        parts.append(t("slack_footer_offline", locale))
    else:
        parts.append(f"${reply.cost_usd:.5f}")
    if reply.cached:
        parts.append(t("slack_footer_cached", locale))
    if reply.fallback:
        parts.append(t("slack_footer_fallback", locale))
    return " · ".join(escape(p) for p in parts)


def sections(mrkdwn: str) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": piece}}
            for piece in split_text(mrkdwn, SECTION_LIMIT)]


def answer_blocks(piece: str, reply: Reply, locale: str) -> list[dict[str, Any]]:
    """The last message of an answer: its text, the context footer and the feedback buttons."""
    blocks = sections(piece)
    note = footer(reply, locale)
    if note:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    if reply.kind is ReplyKind.ANSWER and reply.decision_id is not None:
        value = str(reply.decision_id)
        blocks.append({"type": "actions", "block_id": "switchboard_feedback", "elements": [
            {"type": "button", "action_id": FEEDBACK_UP, "value": value,
             "text": {"type": "plain_text", "text": "👍", "emoji": True}},
            {"type": "button", "action_id": FEEDBACK_DOWN, "value": value,
             "text": {"type": "plain_text", "text": "👎", "emoji": True}},
        ]})
    return blocks
