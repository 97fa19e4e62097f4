"""Slack's wire text as a person reads it: the `<…>` tokens of Slack's text format made plain.

Slack escapes `&`, `<` and `>` in what people type, so every `<…>` in a message is a token: a user
mention `<@U123>` (or `<@U123|name>`), a channel `<#C123|name>`, a special mention `<!here>`,
`<!subteam^S123|@team>`, a date `<!date^…|fallback>`, or a link `<https://…|label>` / `<mailto:…|label>`.
User mentions become the person's name (looked up by the adapter), so the privacy check reads a
colleague's name in the prose where it stands and the model can address them; ours is removed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.adapters.slack_people import Profile

_TOKEN = re.compile(r"<([^<>\n]{1,2000})>")
_USER = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|[^<>\n]*)?>")
UNKNOWN_USER = "@colleague"  # a mention users.info did not resolve: neutral, names nobody
_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


@dataclass(frozen=True, slots=True)
class PlainText:
    """A message's text as read, and the names of the people it mentions (for the privacy check)."""

    text: str
    mentions: tuple[str, ...] = ()


def mentioned_users(text: str, bot_user: str = "") -> list[str]:
    """The user ids a message mentions, other than ours, in order of first mention."""
    return list(dict.fromkeys(u for u in _USER.findall(text) if u != bot_user))


def plain_text(text: str, *, bot_user: str = "", people: Mapping[str, Profile] | None = None) -> PlainText:
    """`text` from Slack with its tokens rendered (`people`: the mentioned users' profiles; a user missing
    there is named by the label Slack sent with the mention, else `UNKNOWN_USER`)."""
    people = people or {}
    out: list[str] = []
    mentions: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(html.unescape(text[pos:match.start()]))
        out.append(_token(match.group(1), bot_user, people, mentions))
        pos = match.end()
    out.append(html.unescape(text[pos:]))
    return PlainText(text="".join(out).strip(), mentions=tuple(dict.fromkeys(mentions)))


def _token(token: str, bot_user: str, people: Mapping[str, Profile], mentions: list[str]) -> str:
    target, _, label = token.partition("|")
    label = html.unescape(label).strip()
    if target.startswith("@"):
        return _user(target[1:], label, bot_user, people, mentions)
    if target.startswith("#"):
        return "#" + (label.lstrip("#") or "channel")
    if target.startswith("!"):
        return _special(target[1:], label)
    url = html.unescape(target)
    if not label or label == url:
        return url
    address = url.partition(":")[2] if url.startswith(("mailto:", "tel:")) else url
    return label if label == address else f"{label} ({address})"


def _user(user: str, label: str, bot_user: str, people: Mapping[str, Profile], mentions: list[str]) -> str:
    if user == bot_user:
        return ""
    profile = people.get(user)
    name = profile.name if profile is not None and profile.name else label.lstrip("@")
    if not name:
        return UNKNOWN_USER
    if profile is None or profile.person:
        mentions.append(name)
    return name


def _special(command: str, label: str) -> str:
    name = command.split("^", 1)[0]
    if name in _SPECIAL:
        return _SPECIAL[name]
    if name == "subteam":
        return label if label.startswith("@") else "@" + (label or "group")
    return label  # dates and anything newer: their fallback text
