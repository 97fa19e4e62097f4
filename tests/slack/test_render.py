"""Markdown → Slack mrkdwn, splitting and Block Kit: pure functions, parametrised tables."""

from __future__ import annotations

import pytest

from bot.adapters.slack import clean_text
from bot.adapters.slack_render import FEEDBACK_DOWN, answer_blocks, footer, split_text, to_mrkdwn
from bot.types import Reply, ReplyKind


@pytest.mark.parametrize(("markdown", "mrkdwn"), [
    ("**bold** and *italic*", "*bold* and _italic_"),
    ("__bold__ ~~gone~~", "*bold* ~gone~"),
    ("# Title", "*Title*"),
    ("## **Loud** title", "*Loud title*"),
    ("- one\n* two\n  + three", "• one\n• two\n  • three"),
    ("see [the docs](https://example.com/a?b=1&c=2)", "see <https://example.com/a?b=1&amp;c=2|the docs>"),
    ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
    ("`**not bold**` but **bold**", "`**not bold**` but *bold*"),
    ("```python\nx = a < b\n# comment\n```", "```\nx = a &lt; b\n# comment\n```"),
    ("2 * 3 * 4", "2 * 3 * 4"),
])
def test_markdown_becomes_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_split_prefers_paragraphs_and_keeps_code_blocks_whole() -> None:
    text = "\n\n".join(["para " * 100] * 20)
    pieces = split_text(text, 1_000)
    assert all(len(p) <= 1_000 for p in pieces)
    assert all(p.startswith("para") and p.endswith("para") for p in pieces)
    code = "```\n" + "\n".join(f"line {i}" for i in range(500)) + "\n```"
    pieces = split_text(code, 1_000)
    assert len(pieces) > 1
    assert all(p.startswith("```") and p.endswith("```") for p in pieces)
    assert split_text("x" * 2_500, 1_000) == ["x" * 1_000, "x" * 1_000, "x" * 500]


def test_footer_and_feedback_buttons() -> None:
    reply = Reply(text="hi", model="mistral/mistral-small", region="eu", cost_usd=0.00042, cached=True,
                  fallback=True, decision_id=7)
    assert footer(reply, "pl") == "mistral/mistral-small · eu · $0.00042 · z pamięci podręcznej · model zapasowy"
    blocks = answer_blocks("hi", reply, "en")
    assert blocks[-1]["elements"][1]["action_id"] == FEEDBACK_DOWN
    assert blocks[-1]["elements"][1]["value"] == "7"
    refusal = Reply(text="no", kind=ReplyKind.REFUSAL, decision_id=8)
    assert [b["type"] for b in answer_blocks("no", refusal, "en")] == ["section"]


def test_wire_text_is_cleaned() -> None:
    assert clean_text("<@UBOT> compare <https://a.example|this> &amp; <https://b.example>", "UBOT") == \
        "compare this (https://a.example) & https://b.example"
