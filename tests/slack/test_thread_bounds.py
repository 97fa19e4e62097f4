"""The thread reader's bounds on arbitrary threads (hypothesis): what is kept fits the character budget, starts
with the thread's first message, ends with its latest that fit, and keeps their order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.slack_thread import _within
from bot.files import FileRef, kind_of


@given(lines=st.lists(st.text(max_size=300), max_size=80), budget=st.integers(min_value=1, max_value=5_000))
def test_kept_lines_fit_the_budget_in_order(lines: list[str], budget: int) -> None:
    kept = _within(lines, budget)
    if not lines:
        assert kept == []
        return
    assert sum(len(line) for line in kept) <= budget
    assert kept[0] == lines[0][:budget]
    rest = kept[1:]
    assert rest == lines[len(lines) - len(rest):] if rest else True  # the latest ones, in order


@given(name=st.text(max_size=300), mimetype=st.text(max_size=100), filetype=st.text(max_size=40))
def test_any_file_description_has_a_kind_or_none(name: str, mimetype: str, filetype: str) -> None:
    assert kind_of(FileRef(name=name, mimetype=mimetype, filetype=filetype)) in (None, "pdf", "docx", "xlsx", "csv",
                                                                                  "text")
