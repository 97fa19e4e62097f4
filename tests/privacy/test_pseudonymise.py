from __future__ import annotations

import pytest

from privacy import Finding, PrivacyEngine, PseudonymVault


def _person(text: str, value: str) -> Finding:
    start = text.index(value)
    return Finding("PERSON", start, start + len(value), 0.9)


def test_round_trip_and_stable_placeholders(engine: PrivacyEngine) -> None:
    vault = PseudonymVault()
    text = "Call Anna Nowak on +48 601 234 567 about the offer."
    safe = vault.pseudonymise("t1", "c1", text, engine.analyze(text).findings)
    assert "Anna" not in safe
    assert "601" not in safe
    assert "<PERSON_1>" in safe
    assert "<PHONE_NUMBER_1>" in safe
    second = "Annę Nowak prosi o kontakt."
    safe2 = vault.pseudonymise("t1", "c1", second, [_person(second, "Annę Nowak")])
    assert safe2.startswith("<PERSON_1>")
    assert vault.restore("t1", "c1", "Dear <PERSON_1>, we called <PHONE_NUMBER_1>.") == (
        "Dear Anna Nowak, we called +48 601 234 567.")


def test_scoped_per_tenant_and_conversation() -> None:
    vault = PseudonymVault()
    text = "Ask Zebedee Quill."
    vault.pseudonymise("t1", "c1", text, [_person(text, "Zebedee Quill")])
    assert vault.restore("t2", "c1", "<PERSON_1>") == "<PERSON_1>"
    assert vault.restore("t1", "c2", "<PERSON_1>") == "<PERSON_1>"
    vault.erase("t1", "c1")
    assert vault.restore("t1", "c1", "<PERSON_1>") == "<PERSON_1>"


def test_ttl_expiry_and_tenant_erasure() -> None:
    now = [0.0]
    vault = PseudonymVault(ttl_s=10, clock=lambda: now[0])
    text = "Ask Zebedee."
    vault.pseudonymise("t1", "c1", text, [_person(text, "Zebedee")])
    vault.pseudonymise("t1", "c2", text, [_person(text, "Zebedee")])
    now[0] = 5
    assert vault.restore("t1", "c1", "<PERSON_1>") == "Zebedee"
    now[0] = 14  # c1 was used at 5, c2 at 0
    assert vault.restore("t1", "c2", "<PERSON_1>") == "<PERSON_1>"
    assert vault.restore("t1", "c1", "<PERSON_1>") == "Zebedee"
    vault.erase_tenant("t1")
    assert len(vault) == 0


@pytest.mark.parametrize("value", ["O'Brien $1 \\g<0>", "Ann (Jr.) [x]*", "<PERSON_2>"])
def test_values_are_inserted_literally(value: str) -> None:
    vault = PseudonymVault()
    text = f"Hello {value}!"
    safe = vault.pseudonymise("t", "c", text, [_person(text, value)])
    assert safe == "Hello <PERSON_1>!"
    assert vault.restore("t", "c", "Bye <PERSON_1>.") == f"Bye {value}."


@pytest.mark.parametrize("chunks", [
    ["Dear <PER", "SON_1>, thanks", "."],
    ["Dear <", "PERSON_", "1", ">, thanks."],
    ["Dear <PERSON_1>, thanks."],
    ["Dear ", "<PERSON_1", ">, thanks", ".", ""],
])
def test_streamed_restore_with_split_placeholders(chunks: list[str]) -> None:
    vault = PseudonymVault()
    text = "Ask Zebedee Quill."
    vault.pseudonymise("t", "c", text, [_person(text, "Zebedee Quill")])
    stream = vault.restorer("t", "c")
    out = "".join(stream.feed(c) for c in chunks) + stream.flush()
    assert out == "Dear Zebedee Quill, thanks."


def test_stream_passes_through_plain_angle_brackets() -> None:
    stream = PseudonymVault().restorer("t", "c")
    assert stream.feed("if a <b and c> d") + stream.flush() == "if a <b and c> d"
