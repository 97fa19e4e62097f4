"""How well natasha's news NER (privacy/ru_ner.py) finds Russian person names, and what it costs.

    .venv/bin/python bench/eval_natasha.py [../shared/datasets/ner/ru.dev.jsonl] [--show 10]

Rows need `text`, `contains_pii` and `per` (the gold PER strings). Prints
- sentence level: recall = rows with contains_pii where >= 1 PER was found,
  false-flag rate = rows without contains_pii where any PER was found;
- span level: PER precision/recall against `per`, exact (string equal after stripping punctuation)
  and lenient (one string contains the other), matched one-to-one;
- load time and RSS growth, per-sentence latency p50/p99 over 5 reps, a 16,000-char text,
  the deadline, a threaded run, odd inputs, lower/UPPER-case variants and chat-style sentences;
- every warning raised (the test suite turns warnings into errors) and any network connect attempt.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privacy.ru_ner import NatashaNer

DEFAULT_SET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ner" / "ru.dev.jsonl"
STRIP = " \t\n.,;:!?«»\"'()[]—-"
CHAT = [
    "Спроси Петрова, когда он пришлёт счёт",
    "передай Ивану Сергеевичу отчёт",
    "Передай Ивану Сергеевичу отчёт",
    "скажи маше что созвон переносится на завтра",
    "Маша, скинь презентацию до вечера",
    "Напомни Ольге Викторовне про договор с Газпромом",
    "Позвони Смирнову из бухгалтерии",
    "Привет! Это Дмитрий из отдела продаж, нужен доступ к CRM",
    "отправь письмо Кузнецовой А.В. до пятницы",
    "Коллеги, Анна Петровна сегодня на больничном",
    "Встреча с Ивановым в Москве в офисе Сбербанка",
    "В переговорной Менделеев свободно после обеда",
]
ODD = {
    "empty": "",
    "spaces": "   \n\t ",
    "emoji": "😀👨‍👩‍👧🔥",
    "latin": "Please ask John Smith from Acme Corp in London",
    "zero-width": "\u200b\ufeff\u2028",
    "lone surrogate": "Иван \ud800 Петров",
    "combining": "Ива\u0301н Петро\u0301в пришёл",
    "arabic": "مرحبا بالعالم",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_kib() -> int:
    try:
        import psutil  # type: ignore[import-not-found,unused-ignore]

        return int(psutil.Process().memory_info().rss // 1024)
    except ImportError:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def per_strings(ner: NatashaNer, text: str) -> list[str]:
    return [text[s:e] for s, e, label in ner.entities(text) if label == "PER"]


def match(pred: list[str], gold: list[str], same: Callable[[str, str], bool]) -> int:
    """Greedy one-to-one matches between predicted and gold strings."""
    left = [g.strip(STRIP) for g in gold]
    hits = 0
    for p in (p.strip(STRIP) for p in pred):
        for i, g in enumerate(left):
            if same(p, g):
                hits += 1
                del left[i]
                break
    return hits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=str(DEFAULT_SET))
    ap.add_argument("--show", type=int, default=0, help="print this many misses and false flags")
    a = ap.parse_args()
    rows = [json.loads(line) for line in Path(a.dataset).read_text(encoding="utf-8").splitlines() if line.strip()]

    connects: list[Any] = []
    real_connect = socket.socket.connect

    def spy_connect(self: socket.socket, address: Any) -> None:
        connects.append(address)
        real_connect(self, address)

    socket.socket.connect = spy_connect  # type: ignore[method-assign]
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(rows, a.show)
    print("\n== warnings raised during import/load/use:", len(caught))
    for w in caught:
        print(f"  {w.category.__name__} {w.filename}:{w.lineno}: {w.message}")
    print("== network connect attempts:", connects or "none")


def run(rows: list[dict[str, Any]], show: int) -> None:
    rss0 = rss_kib()
    t0 = time.perf_counter()
    ner = NatashaNer()
    load_s = time.perf_counter() - t0
    rss1 = rss_kib()
    print(
        f"load {load_s:.2f} s (imports included); RSS {rss0 / 1024:.0f} -> {rss1 / 1024:.0f} MiB "
        f"(+{(rss1 - rss0) / 1024:.0f} MiB)"
    )

    # accuracy
    pos = neg = tp_rows = ff_rows = 0
    n_pred = n_gold = exact = lenient = 0
    misses: list[str] = []
    flags: list[str] = []
    for row in rows:
        pred = per_strings(ner, row["text"])
        gold = list(row.get("per") or [])
        n_pred += len(pred)
        n_gold += len(gold)
        exact += match(pred, gold, lambda p, g: p == g)
        lenient += match(pred, gold, lambda p, g: bool(p) and bool(g) and (p in g or g in p))
        if row["contains_pii"]:
            pos += 1
            tp_rows += bool(pred)
            if not pred:
                misses.append(f"  miss {gold} | {row['text'][:140]}")
        else:
            neg += 1
            ff_rows += bool(pred)
            if pred:
                flags.append(f"  flag {pred} | {row['text'][:140]}")
    print(
        f"\n== {len(rows)} rows: sentence recall {tp_rows}/{pos} = {tp_rows / max(pos, 1):.1%}, "
        f"false-flag rate {ff_rows}/{neg} = {ff_rows / max(neg, 1):.1%}"
    )
    print(
        f"span PER: {n_pred} predicted, {n_gold} gold; exact P {exact / max(n_pred, 1):.1%} "
        f"R {exact / max(n_gold, 1):.1%}; lenient P {lenient / max(n_pred, 1):.1%} R {lenient / max(n_gold, 1):.1%}"
    )
    for line in misses[:show] + flags[:show]:
        print(line)

    # latency: default (one BLAS thread per model call) and BLAS left at its default thread count
    mean_len = statistics.mean(len(r["text"]) for r in rows)
    print(f"\n== latency per sentence (5 reps x {len(rows)} rows, mean {mean_len:.0f} chars)")
    for label, tagger in [
        ("single-thread BLAS (default)", ner),
        ("BLAS untouched", NatashaNer(single_thread_blas=False)),
    ]:
        times: list[float] = []
        for _ in range(5):
            for row in rows:
                t = time.perf_counter()
                tagger.entities(row["text"])
                times.append(time.perf_counter() - t)
        print(f"  {label}: p50 {pct(times, 0.5) * 1000:.2f} ms, p99 {pct(times, 0.99) * 1000:.2f} ms")

    big = ""
    while len(big) < 16000:
        for row in rows:
            big += row["text"] + " "
    big = big[:16000]
    for name, text in [
        ("ru news x16000", big),
        ("'а'*16000", "а" * 16000),
        ("emoji*16000", "😀" * 16000),
        ("latin 16000", ("Lorem ipsum dolor sit amet John Smith " * 500)[:16000]),
    ]:
        reps = []
        for _ in range(3):
            t = time.perf_counter()
            spans = ner.entities(text)
            reps.append(time.perf_counter() - t)
        assert all(0 <= s < e <= len(text) and not text[s].isspace() and not text[e - 1].isspace() for s, e, _ in spans)
        print(
            f"16k {name}: {min(reps) * 1000:.0f} ms (best of 3), windows {len(list(ner._windows(text)))}, "
            f"spans {len(spans)}"
        )
    try:
        ner.entities(big, deadline=time.monotonic() + 0.02)
        print("deadline +20 ms on 16k: finished (no TimeoutError)")
    except TimeoutError:
        print("deadline +20 ms on 16k: TimeoutError raised")

    seq = [ner.entities(r["text"]) for r in rows]
    with ThreadPoolExecutor(8) as pool:
        par = list(pool.map(ner.entities, [r["text"] for r in rows]))
    print("8 threads == sequential:", par == seq)

    print("\n== odd inputs")
    for name, text in ODD.items():
        print(f"  {name}: {[(s, e, lab, text[s:e]) for s, e, lab in ner.entities(text)]}")

    print("\n== case variants (first 10 rows with a person): any PER found")
    sample = [r for r in rows if r["contains_pii"]][:10]
    for variant, fn in [("original", str), ("lower", str.lower), ("UPPER", str.upper)]:
        found = [per_strings(ner, fn(r["text"])) for r in sample]
        print(f"  {variant}: {sum(bool(f) for f in found)}/10  {found}")

    print("\n== chat-style")
    for text in CHAT:
        print(f"  {text!r}: {[(text[s:e], lab) for s, e, lab in ner.entities(text)]}")


if __name__ == "__main__":
    main()
