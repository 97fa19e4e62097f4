"""Valid payloads of each kind the two endpoints take, and the ways the fuzz families break them."""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

from tests.slack.fake_slack_api import TEAM

Path = tuple[str | int, ...]
_ids = itertools.count(1)

# one value of every JSON type, put in place of each field in turn (and then the field is removed)
TYPE_SWAPS: list[Any] = [None, True, -1.5, "", [], {}]


# --- valid payloads ------------------------------------------------------------------------------


def slack_dm_event(text: str) -> dict[str, Any]:
    n = next(_ids)
    return {"token": "legacy", "team_id": TEAM, "api_app_id": "A0APP", "type": "event_callback",
            "event_id": f"EvFUZZ{n:08d}", "event_time": int(time.time()),
            "event": {"type": "message", "channel": "D0FUZZ001", "channel_type": "im", "user": "UFUZZ0001",
                      "text": text, "ts": f"1700000000.{n:06d}"}}


def slack_mention_event(text: str) -> dict[str, Any]:
    body = slack_dm_event(f"<@UBOT0001> {text}")
    body["event"].update(type="app_mention", channel="C0FUZZ001", channel_type="channel",
                         thread_ts="1700000000.000001")
    return body


def slack_command(text: str, response_url: str) -> dict[str, Any]:
    return {"token": "legacy", "team_id": TEAM, "channel_id": "C0FUZZ001", "user_id": "UFUZZ0001",
            "command": "/switchboard", "text": text, "api_app_id": "A0APP", "response_url": response_url,
            "trigger_id": "1.2.3"}


def slack_block_actions(value: str, response_url: str) -> dict[str, Any]:
    return {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": "UFUZZ0001"}, "api_app_id": "A0APP",
            "channel": {"id": "D0FUZZ001"}, "trigger_id": "1.2.3", "response_url": response_url,
            "container": {"type": "message", "message_ts": "1800000000.000001", "channel_id": "D0FUZZ001"},
            "actions": [{"type": "button", "action_id": "switchboard_feedback_up",
                         "block_id": "switchboard_feedback", "value": value, "action_ts": str(time.time())}]}


def form(fields: dict[str, Any]) -> str:
    return urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})


def teams_message(service_url: str, text: str | None, *, conv: str = "personal") -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "message", "id": f"fuzz-{next(_ids)}", "channelId": "msteams", "serviceUrl": service_url,
        "timestamp": "2025-01-01T10:00:00.000Z", "locale": "en-US",
        "from": {"id": "29:fuzz-user", "name": "Fuzz User", "aadObjectId": "aad-fuzz"},
        "recipient": {"id": "28:switchboard-bot", "name": "Switchboard"},
        "conversation": {"id": "a:fuzz-chat" if conv == "personal" else "19:fuzz@thread.tacv2",
                         "conversationType": conv, "tenantId": "tenant-fuzz"},
        "channelData": {"tenant": {"id": "tenant-fuzz"}},
        "entities": [{"type": "mention", "text": "<at>Switchboard</at>",
                      "mentioned": {"id": "28:switchboard-bot", "name": "Switchboard"}}],
    }
    if text is not None:
        body["text"] = text
    return body


def teams_invoke(service_url: str) -> dict[str, Any]:
    body = teams_message(service_url, None)
    body.update(type="invoke", name="message/submitAction", replyToId="act-1",
                value={"actionName": "feedback", "actionValue": {"reaction": "like", "feedback": "{}"}})
    return body


# --- mutations -----------------------------------------------------------------------------------


def paths(doc: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every field and element of a JSON document, outermost first."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


def replaced(doc: Any, path: Path, value: Any) -> Any:
    copied = copy.deepcopy(doc)
    parent = copied
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return copied


def deleted(doc: Any, path: Path) -> Any:
    copied = copy.deepcopy(doc)
    parent = copied
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return copied


def type_swaps(doc: Any, *, fresh_id: Path | None = None) -> Iterator[tuple[Path, Any]]:
    """(path, document) with each field in turn replaced by each JSON type, or removed. `fresh_id`: the
    delivery id, renewed in every document (unless it is the field swapped) so that none is dropped as
    a redelivery before it reaches the code under test."""
    for path in paths(doc):
        for value in [*TYPE_SWAPS, _DELETE]:
            swapped = deleted(doc, path) if value is _DELETE else replaced(doc, path, value)
            if fresh_id is not None and path[:len(fresh_id)] != fresh_id:
                swapped = replaced(swapped, fresh_id, f"fuzz-{next(_ids)}")
            yield path, swapped


_DELETE = object()


# text with everything JSON can carry: controls, non-BMP characters, lone surrogates (as \\ud800 escapes)
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=40)
json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**70, max_value=2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | any_text)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(any_text, inner, max_size=4), max_leaves=12)


@st.composite
def mutated(draw: st.DrawFn, template: dict[str, Any]) -> dict[str, Any]:
    """The template after one to four random edits: a field replaced by any JSON value, removed, or
    joined by an unknown one."""
    doc = template
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        choices = list(paths(doc))
        kind = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if kind == "add" or not choices:
            containers = [p for p in [(), *choices] if isinstance(_at(doc, p), dict)]
            path = draw(st.sampled_from(containers))
            doc = replaced(doc, (*path, draw(any_text)), draw(json_values)) if path else \
                {**doc, draw(any_text): draw(json_values)}
        elif kind == "delete":
            doc = deleted(doc, draw(st.sampled_from(choices)))
        else:
            doc = replaced(doc, draw(st.sampled_from(choices)), draw(json_values))
    return doc


def _at(doc: Any, path: Path) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def dumps(doc: Any) -> str:
    """JSON as a platform would send it; NaN and Infinity included (Python's parser takes them)."""
    return json.dumps(doc)
