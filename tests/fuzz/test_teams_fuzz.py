"""Fuzzing POST /api/messages of a running server: the anonymous (development) app, where activities
get past authentication into parsing, botbuilder and our turn logic, answering through the fake
connector; and the authenticated app, where the Authorization header and the token are the target.
Never a 5xx, never a hang, nothing logged as an error, /healthz still 200 and memory bounded after."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import FuzzTarget
from tests.fuzz.harness import Header
from tests.fuzz.payloads import any_text, dumps, json_values, mutated, teams_invoke, teams_message, type_swaps
from tests.teams.conftest import APP_ID
from tests.teams.fake_issuer import BOT_CONNECTOR_ISSUER, KEY_ID

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])
EMEA = "https://smba.trafficmanager.net/emea/"


def test_every_field_as_every_json_type(fuzz: FuzzTarget) -> None:
    """Each field of a personal-chat message and of a feedback invoke in turn replaced by null, a bool, a
    number, a string, a list, an object, or removed (channel mentions: the mutation families). The
    message is a command (`help`), answered without the pipeline: the families below feed it."""
    for template in (teams_message(fuzz.service_url, "help"), teams_invoke(fuzz.service_url)):
        for _path, doc in type_swaps(template, fresh_id=("id",)):
            fuzz.teams(f"teams: field types ({template['type']})", doc)
            fuzz.check_logs()
    fuzz.assert_healthy()


@FUZZ
@given(data=st.data())
def test_mutated_activities(fuzz: FuzzTarget, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["message", "channel", "invoke", "conversationUpdate"]))
    template = {"message": lambda: teams_message(fuzz.service_url, "hello"),
                "channel": lambda: teams_message(fuzz.service_url, "<at>Switchboard</at> hi", conv="channel"),
                "invoke": lambda: teams_invoke(fuzz.service_url),
                "conversationUpdate": lambda: {**teams_message(fuzz.service_url, None),
                                               "type": "conversationUpdate"}}[kind]()
    fuzz.teams("teams: mutated activities", data.draw(mutated(template)))
    fuzz.check_logs()


@settings(FUZZ, max_examples=30)
@given(text=any_text, entities=st.lists(json_values, max_size=3), value=json_values)
def test_message_text_entities_and_values(fuzz: FuzzTarget, text: str, entities: list[Any], value: Any) -> None:
    """Any text, with mention entities and card values of any shape, through the turn and the pipeline."""
    body = teams_message(fuzz.service_url, f"<at>Switchboard</at> {text} <at>{text}</at>")
    body["entities"] = [*body["entities"], *entities]
    fuzz.teams("teams: text, entities, values", body)
    fuzz.teams("teams: text, entities, values", {**teams_message(fuzz.service_url, None), "value": value})
    fuzz.check_logs()


def test_huge_and_deep_bodies(fuzz: FuzzTarget) -> None:
    mention = teams_message(fuzz.service_url, "hi")["entities"][0]
    many_mentions = teams_message(fuzz.service_url, "<at>Switchboard</at> " + "word " * 60_000)
    many_mentions["entities"] = [mention] * 4_000
    deep_value = teams_invoke(fuzz.service_url)
    deep_value["value"] = json.loads("[" * 500 + "]" * 500)
    cases: list[bytes] = [
        json.dumps(teams_message(fuzz.service_url, "x" * 1_100_000)).encode(),  # over the body limit
        json.dumps(teams_message(fuzz.service_url, "word " * 190_000)).encode(),  # far over the message limit
        json.dumps(teams_message(fuzz.service_url, "Ab1 " * 4_000)).encode(),  # at the message limit
        json.dumps(many_mentions).encode(),
        json.dumps(deep_value).encode(),
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        dumps(teams_message(fuzz.service_url, "hi")).replace('"locale"', '"x": ' + "9" * 5_000 + ', "locale"').encode(),
        json.dumps({f"k{i}": i for i in range(60_000)}).encode(),
        json.dumps([teams_message(fuzz.service_url, "hi")] * 1_500).encode(),
    ]
    for raw in cases:
        fuzz.teams("teams: huge and deep", None, raw=raw)
        fuzz.check_logs()
    fuzz.assert_healthy()


def test_bad_encodings_and_content_types(fuzz: FuzzTarget) -> None:
    text = dumps(teams_message(fuzz.service_url, "caf\u00e9 \u2603"))
    for raw in (text.replace("caf\\u00e9", "caf\xe9").encode("latin-1"), b"\xef\xbb\xbf" + text.encode(),
                text.encode("utf-16"), text.encode("utf-32"), text.encode()[:-5] + b"\xff\xfe\xfd\"}}",
                text.replace("hello", "\xc0\xaf").encode("latin-1"), text.encode().replace(b"caf", b"c\x00f"),
                b"", b"null", b"1e999", b'"\\ud800"', b"{" + b" " * 500_000 + b"}"):
        fuzz.teams("teams: encodings", None, raw=raw)
        fuzz.check_logs()
    for content_type in ("application/json; charset=utf-8", "Application/JSON", "application/json; charset=bogus",
                         "application/json; charset=utf-16", "application/json; charset=", "application/json;;;",
                         "text/plain", None, "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         "application/" + "x" * 5_000, "*/*"):
        body = teams_message(fuzz.service_url, "hello")
        fuzz.teams("teams: content types", body, content_type=content_type)
        fuzz.check_logs()
    fuzz.teams("teams: content types", None, raw=b"type=message&text=hi", content_type="application/json")
    fuzz.assert_healthy()


def test_header_abuse(fuzz: FuzzTarget) -> None:
    body = teams_message(fuzz.service_url, "hello")
    header_sets: list[list[Header]] = [
        [("Authorization", "Bearer not-a-jwt")],  # ignored by the anonymous app
        [("Authorization", b"Bearer \xe9\xe9")],
        [("Content-Type", "text/plain")],  # a second Content-Type
        [("Content-Type", "application/json")],
        [("X-Huge", "a" * 9_000)],
        [(b"X-\xff", b"1")],
        [("X-Ctl", b"a\x01b")],
        [(f"X-Many-{i}", "1") for i in range(500)],
        [("Transfer-Encoding", "chunked")],  # alongside Content-Length
        [("Expect", "100-continue")],
    ]
    for headers in header_sets:
        fuzz.teams("teams: headers", {**body, "id": f"hdr-{time.monotonic_ns()}"}, headers=headers,
                   allow_dropped=True)
    fuzz.check_logs()
    fuzz.assert_healthy()


# --- the authenticated app: tokens ----------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: Any) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _activities(fuzz: FuzzTarget) -> list[dict[str, Any]]:
    """Activities that need no outgoing call when accepted: an update (200) and a message for the fake
    connector on loopback (403: loopback is not a Bot Framework service in production)."""
    return [{**teams_message(EMEA, None), "type": "conversationUpdate"}, teams_message(fuzz.service_url, "hi")]


def test_authorization_header_shapes(fuzz: FuzzTarget) -> None:
    valid = fuzz.issuer.token(app_id=APP_ID, service_url=EMEA)
    claims = {"iss": BOT_CONNECTOR_ISSUER, "aud": APP_ID, "serviceurl": EMEA, "exp": int(time.time()) + 600}
    values: list[str | bytes] = [
        "", "Bearer", "Bearer ", "bearer " + valid, "Bearer  " + valid, "Bearer " + valid + " x", "Basic dXNlcjpwdw==",
        "Bearer " + "a" * 7_000, "Bearer a.b.c", "Bearer ...", "Bearer " + valid[:-10], "Bearer " + valid + "x",
        b"Bearer \xe9.\xe9.\xe9", "Bearer " + _unsigned({"alg": "none"}, claims),
        "Bearer " + _unsigned({"alg": "RS256", "kid": KEY_ID}, claims) + "c2ln",
        "Bearer " + _unsigned({"alg": "RS256", "kid": KEY_ID}, [1, 2]) + "c2ln",
        "Bearer " + _unsigned({"alg": "RS256", "kid": ["x"]}, claims) + "c2ln",
        "Bearer " + _unsigned({"alg": "RS256"}, claims) + "c2ln",
        "Bearer " + _unsigned({"alg": "RS256", "kid": KEY_ID}, {"aud": APP_ID}) + "c2ln",  # no issuer
        "Bearer " + jwt.encode(claims, "a-shared-secret-of-32-bytes-or-more", algorithm="HS256",
                               headers={"kid": KEY_ID}),
        "Bearer " + fuzz.issuer.token(app_id=APP_ID, service_url=EMEA, kid="unknown-key"),
        "Bearer " + fuzz.issuer.token(app_id=APP_ID, service_url=EMEA, exp=int(time.time()) - 3_600),
    ]
    for value in values:
        for activity in _activities(fuzz):
            fuzz.teams("teams auth: header shapes", activity, auth=True, headers=[("Authorization", value)])
    for activity in _activities(fuzz):
        token = fuzz.issuer.token(app_id=APP_ID, service_url=activity["serviceUrl"])
        fuzz.teams("teams auth: header shapes", activity, auth=True, headers=[("Authorization", f"Bearer {token}")])
    fuzz.teams("teams auth: header shapes", _activities(fuzz)[0], auth=True,
               headers=[("Authorization", "Bearer " + valid), ("Authorization", "Bearer x")])
    fuzz.check_logs()
    fuzz.assert_healthy()


_NOW = int(time.time())
_CLAIMS = {  # each claim kept, set to another plausible value, or to any JSON value at all
    "iss": st.sampled_from([BOT_CONNECTOR_ISSUER, "https://sts.windows.net/x/"]) | json_values,
    "aud": st.sampled_from([APP_ID, ""]) | json_values,
    "serviceurl": st.sampled_from([EMEA, EMEA.upper(), "https://smba.trafficmanager.net/amer/"]) | json_values,
    "exp": st.integers(min_value=_NOW - 10**6, max_value=_NOW + 10**6) | json_values,
    "nbf": st.integers(min_value=_NOW - 10**6, max_value=_NOW + 10**6) | json_values,
}


@FUZZ
@given(claims=st.fixed_dictionaries({}, optional=_CLAIMS),
       kid=st.sampled_from([KEY_ID, KEY_ID, "", "unknown"]) | json_values)
def test_signed_tokens_with_odd_claims(fuzz: FuzzTarget, claims: dict[str, Any], kid: Any) -> None:
    """Tokens signed with the issuer's real key whose claims (and key id) hold values of any type."""
    for activity in _activities(fuzz):  # each with a token for its own serviceUrl unless the claim is fuzzed
        token = fuzz.issuer.token(app_id=APP_ID, service_url=activity["serviceUrl"], kid=kid, **claims)
        fuzz.teams("teams auth: odd claims", activity, auth=True, headers=[("Authorization", f"Bearer {token}")])
    fuzz.check_logs()
