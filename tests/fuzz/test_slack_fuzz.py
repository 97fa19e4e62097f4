"""Fuzzing POST /slack/events of a running server: every request is signed with the signing secret over
the exact bytes sent (so it gets past verification and into parsing, bolt and our listeners), except
in the header family, which attacks the verification itself. Never a 5xx, never a hang, nothing
logged as an error by background listeners, /healthz still 200 and memory bounded afterwards."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import FuzzTarget
from tests.fuzz.payloads import (
    any_text,
    dumps,
    form,
    mutated,
    slack_block_actions,
    slack_command,
    slack_dm_event,
    slack_mention_event,
    type_swaps,
)

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])
FORM = "application/x-www-form-urlencoded"


def _response_url(fuzz: FuzzTarget) -> str:
    return f"http://127.0.0.1:{fuzz.port}/healthz"  # somewhere harmless on loopback that answers


def _actions_form(payload: Any) -> str:
    return form({"payload": payload})


def test_every_field_as_every_json_type(fuzz: FuzzTarget) -> None:
    """Each field of a DM event, a button click and a slash command in turn replaced by null, a bool, a
    number, a string, a list, an object, or removed (mentions: the mutation family). Background work is
    awaited every few cases; an error names the fields of that batch."""
    cases = [("events", dumps(doc), "application/json", path)
             for path, doc in type_swaps(slack_dm_event("hello"), fresh_id=("event_id",))]
    cases += [("button clicks", _actions_form(doc), FORM, path)
              for path, doc in type_swaps(slack_block_actions("1", _response_url(fuzz)))]
    cases += [("slash commands", form(doc), FORM, path)
              for path, doc in type_swaps(slack_command("why", _response_url(fuzz)))]
    for start in range(0, len(cases), 8):
        batch = cases[start:start + 8]
        for kind, body, content_type, _path in batch:
            fuzz.slack(f"slack: field types ({kind})", body, content_type=content_type)
        fuzz.settle(context=[(kind, path) for kind, _body, _type, path in batch])
    fuzz.assert_healthy()


@st.composite
def _slack_bodies(draw: st.DrawFn, response_url: str) -> tuple[str, str]:
    kind = draw(st.sampled_from(["dm", "mention", "actions", "command"]))
    if kind == "actions":
        return _actions_form(draw(mutated(slack_block_actions("1", response_url)))), FORM
    if kind == "command":
        return form(draw(mutated(slack_command("help", response_url)))), FORM
    template = slack_dm_event("hi") if kind == "dm" else slack_mention_event("hi")
    return dumps(draw(mutated(template))), "application/json"


@FUZZ
@given(data=st.data())
def test_mutated_payloads(fuzz: FuzzTarget, data: st.DataObject) -> None:
    body, content_type = data.draw(_slack_bodies(_response_url(fuzz)))
    fuzz.slack("slack: mutated payloads", body, content_type=content_type)
    fuzz.settle()


@settings(FUZZ, max_examples=30)
@given(text=any_text)
def test_message_text(fuzz: FuzzTarget, text: str) -> None:
    """Any text a staff member could send (controls, lone surrogates, non-BMP) goes through the pipeline."""
    fuzz.slack("slack: message text", dumps(slack_dm_event(text)))
    fuzz.settle()


def test_huge_and_deep_bodies(fuzz: FuzzTarget) -> None:
    big_text = "x" * 1_100_000
    cases: list[tuple[str, str]] = [
        (dumps(slack_dm_event(big_text)), "over the body limit"),
        (dumps(slack_dm_event("word " * 190_000)), "under the limit, far over the message limit"),
        (dumps(slack_dm_event("Ab1 " * 4_000)), "exactly at the message limit"),
        ("[" * 100_000 + "]" * 100_000, "deep array"),
        ('{"a":' * 50_000 + "1" + "}" * 50_000, "deep object"),
        (dumps({**slack_dm_event("hi"), "type": "event_callback",
                "event": {"type": "message", "x": json.loads("[" * 500 + "]" * 500)}}), "deep inside"),
        (dumps(slack_dm_event("hi")).replace('"event_time": ', '"event_time": ' + "9" * 5_000 + ", \"x\": "),
         "5,000-digit number"),
        (dumps({f"k{i}": i for i in range(60_000)}), "60,000 keys"),
        (dumps([slack_dm_event("hi")] * 2_500), "2,500 events in a list"),
        ("payload=" + "%5B" * 100_000 + "%5D" * 100_000, "deep payload in a form"),
    ]
    for body, _why in cases:
        content_type = FORM if body.startswith("payload=") else "application/json"
        fuzz.slack("slack: huge and deep", body, content_type=content_type)
        fuzz.settle()
    fuzz.assert_healthy()


def test_bad_encodings_and_content_types(fuzz: FuzzTarget) -> None:
    event = dumps(slack_dm_event("caf\u00e9 \u2603"))
    command = form(slack_command("help", _response_url(fuzz)))
    raw_cases: list[tuple[bytes, str | None]] = [
        (event.replace("caf\\u00e9", "caf\xe9").encode("latin-1"), "application/json"),  # no UTF-8
        (event.encode()[:-20] + b"\xff\xfe\xfd" + event.encode()[-20:], "application/json"),
        (b"\xef\xbb\xbf" + event.encode(), "application/json"),  # byte order mark
        (event.encode("utf-16"), "application/json"),
        (event.replace('"hi"', '"\xc0\xaf"').encode("latin-1"), "application/json"),  # overlong
        (event.encode().replace(b"caf", b"c\x00f"), "application/json"),
        (b"\xff\xfe" + command.encode(), FORM),
        (command.encode().replace(b"help", b"h%FFlp"), FORM),
        (command.encode().replace(b"help", b"h%zzlp"), FORM),
    ]
    for body, content_type in raw_cases:
        fuzz.slack("slack: encodings", body, content_type=content_type)
        fuzz.settle()
    for content_type in (FORM, "text/plain", None, "multipart/form-data; boundary=x",
                         "application/json; charset=utf-16", "application/json; charset=bogus",
                         "application/json; charset=", f"{FORM}; charset=latin-1", "application/json;;;",
                         "application/" + "x" * 5_000, "*/*", "application/json\t"):
        fuzz.slack("slack: content types", event, content_type=content_type)
        fuzz.slack("slack: content types", command, content_type=content_type)
        fuzz.settle()
    for body in ("payload=not-json", "payload=", "payload=%FF%FE", "payload=null", "payload=[]", "payload=1e999",
                 form(slack_command("why payload", _response_url(fuzz))), "=&&=&payload", "a=1&a=2&command=/x"):
        fuzz.slack("slack: form bodies", body, content_type=FORM)
        fuzz.settle()
    fuzz.assert_healthy()


def test_header_abuse(fuzz: FuzzTarget) -> None:
    body = dumps(slack_dm_event("hello"))
    now = str(int(time.time()))
    fuzz.slack("slack: headers", body, sign=False)
    fuzz.slack("slack: headers", body, sign=False, headers=[("X-Slack-Request-Timestamp", now)])
    fuzz.slack("slack: headers", body, sign=False, headers=[("X-Slack-Signature", "v0=" + "0" * 64)])
    signed_twice = [("X-Slack-Signature", "v0=" + "0" * 64)]  # a second, wrong signature after the right one
    fuzz.slack("slack: headers", body, headers=signed_twice)
    fuzz.slack("slack: headers", body, headers=[("X-Slack-Request-Timestamp", "1")])
    for timestamp in ("-1", "0", "1e10", "nan", "inf", "-inf", " " + now, now + ".5", "0x6553F100", "+" + now,
                      "9" * 400, "9" * 5_000, "", "\u0661\u0667" + "\u0660" * 8, now[:2] + "_" + now[2:],
                      str(int(now) + 10**6), str(-10**30)):
        fuzz.slack("slack: timestamps", body, timestamp=timestamp)
    raw_values: list[bytes] = [b"v0=\xe9\xe9", b"v0=" + "é".encode() * 32, b"\x00", b"v0=" + b"a" * 10_000]
    for value in raw_values:
        fuzz.slack("slack: headers", body, sign=False,
                   headers=[("X-Slack-Request-Timestamp", now), ("X-Slack-Signature", value)], allow_dropped=True)
    for retry in ("abc", "-1", "9" * 100, "\u0661", ""):
        fuzz.slack("slack: headers", body, headers=[("X-Slack-Retry-Num", retry), ("X-Slack-Retry-Reason", retry)])
    for name, value in ((b"X-Huge", b"a" * 9_000), (b"X-Huge", b"a" * 100_000), (b"X-\xff", b"1"),
                        (b"X Space", b"1"), (b"X-Ctl", b"a\x01b"), (b"", b"empty name")):
        fuzz.slack("slack: headers", body, headers=[(name, value)], allow_dropped=True)
    many = [(f"X-Many-{i}", "1") for i in range(500)]
    fuzz.slack("slack: headers", body, headers=many, allow_dropped=True)
    fuzz.settle()
    fuzz.assert_healthy()


_HEADER_TEXT = st.text(st.characters(min_codepoint=1, max_codepoint=0x10FFFF, exclude_characters="\r\n"), max_size=30)


@FUZZ
@given(timestamp=_HEADER_TEXT, retry=_HEADER_TEXT, signed=st.booleans())
def test_any_timestamp_and_retry_header(fuzz: FuzzTarget, timestamp: str, retry: str, signed: bool) -> None:
    """Any timestamp (signed over it, so only its value decides) and any retry count, as UTF-8 bytes."""
    body = dumps(slack_dm_event("hello"))
    fuzz.slack("slack: any timestamp and retry header", body, timestamp=timestamp, sign=signed,
               headers=[("X-Slack-Retry-Num", retry)] + ([] if signed else [("X-Slack-Request-Timestamp", timestamp)]),
               allow_dropped=True)
    fuzz.settle()
