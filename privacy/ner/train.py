"""Trains the per-language named-entity models (PER / LOC / ORG / MISC) that privacy.ner ships.

    .venv/bin/python -m privacy.ner.train [--langs pl,da,ro,de,en] [--corpus ../shared/datasets/ner]

A dev-time tool: setup never trains; the trained pipelines live in ``privacy/ner/models/<lang>/``.
Input is only the corpora's *train* files (``<lang>.train.jsonl``); the ``*.dev.jsonl`` sentences are
never read here. From each train file 5% (at most 800 sentences) is held back to pick the best epoch,
so model selection never sees a dev sentence either.

Augmentation (all seeded, so a run is reproducible):
- case: a share of the sentences is lower-cased or upper-cased (chat writes "jan kowalski", "ANNA");
- chat frames: ``data/chat_templates.yaml`` filled with Faker's names, cities and companies, so the
  model sees persons (and places/companies, as such) in imperative staff messages;
- German, the thinnest corpus, also gets each person sentence once more with other German names.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
MODELS = HERE / "models"
DEFAULT_CORPUS = HERE.parents[2] / "shared" / "datasets" / "ner"
# Russian trains too (--langs ru), but natasha's model measured far better there and is what ships
LANGS = ("pl", "da", "ro", "de", "en")
ALL_MODELS = (*LANGS, "xx")  # "xx": the pooled multilingual model over the five (train_pooled)
LABELS = ("PER", "LOC", "ORG", "MISC")
SEED = 20261121
FAKER_LOCALE = {"pl": "pl_PL", "da": "da_DK", "ro": "ro_RO", "ru": "ru_RU", "de": "de_DE", "en": "en_GB"}
# Polish NKJP is 83k sentences: all person sentences plus as many others keep an epoch short
MAX_SENTENCES = 45_000
EPOCHS = {"pl": 5, "en": 7}
DEFAULT_EPOCHS = 12
TEMPLATE_SENTENCES = 1_500
LOWER_SHARE, UPPER_SHARE = 0.10, 0.03

Span = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    entities: tuple[Span, ...]


def read_rows(path: Path) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            rows.append(Row(obj["text"], tuple((int(s), int(e), str(lab)) for s, e, lab in obj["entities"])))
    return rows


def has_person(row: Row) -> bool:
    return any(lab == "PER" for _, _, lab in row.entities)


def subsample(rows: list[Row], rng: random.Random, limit: int) -> list[Row]:
    if len(rows) <= limit:
        return rows
    persons = [r for r in rows if has_person(r)]
    others = [r for r in rows if not has_person(r)]
    rng.shuffle(others)
    return persons[:limit] + others[: max(0, limit - len(persons))]


def recase(row: Row, rng: random.Random) -> Row:
    """Lower- or upper-case a sentence when that keeps every offset (it does not for 'İ' or 'ß')."""
    x = rng.random()
    if x < LOWER_SHARE:
        text = row.text.lower()
    elif x < LOWER_SHARE + UPPER_SHARE:
        text = row.text.upper()
    else:
        return row
    return Row(text, row.entities) if len(text) == len(row.text) else row


class Filler:
    """Names, cities and companies of one locale (Faker), seeded."""

    def __init__(self, lang: str, seed: int) -> None:
        from faker import Faker

        self._fake = Faker(FAKER_LOCALE[lang])
        self._fake.seed_instance(seed)
        self._rng = random.Random(seed)

    def person(self) -> tuple[str, str, str]:
        f = self._fake
        if self._rng.random() < 0.5:
            return f.first_name_female(), f.last_name_female(), "f"
        return f.first_name_male(), f.last_name_male(), "m"

    def city(self) -> str:
        return str(self._fake.city())

    def company(self) -> str:
        return str(self._fake.company())


_SLOT = re.compile(r"\{(PER|FIRST|LAST|LOC|ORG)\}")


def fill(template: str, filler: Filler) -> Row:
    first, last, _ = filler.person()
    values = {"PER": (f"{first} {last}", "PER"), "FIRST": (first, "PER"), "LAST": (last, "PER"),
              "LOC": (filler.city(), "LOC"), "ORG": (filler.company(), "ORG")}
    out, spans, pos = [], [], 0
    length = 0
    for m in _SLOT.finditer(template):
        literal = template[pos:m.start()]
        out.append(literal)
        length += len(literal)
        value, label = values[m.group(1)]
        spans.append((length, length + len(value), label))
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(template[pos:])
    return Row("".join(out), tuple(spans))


def template_rows(lang: str, n: int, seed: int) -> list[Row]:
    templates: list[str] = yaml.safe_load((HERE / "data" / "chat_templates.yaml").read_text(encoding="utf-8"))[lang]
    filler = Filler(lang, seed)
    rng = random.Random(seed)
    return [fill(rng.choice(templates), filler) for _ in range(n)]


def swap_names(row: Row, filler: Filler) -> Row | None:
    """The same sentence with each person replaced by another name of the same shape (1 or 2+ words)."""
    if not has_person(row):
        return None
    out, spans, pos, shift = [], [], 0, 0
    for s, e, lab in sorted(row.entities):
        out.append(row.text[pos:s])
        value = row.text[s:e]
        if lab == "PER":
            first, last, _ = filler.person()
            words = value.split()
            value = f"{first} {last}" if len(words) >= 2 else (last if words and words[0][:1].isupper() else first)
        spans.append((s + shift, s + shift + len(value), lab))
        shift += len(value) - (e - s)
        out.append(value)
        pos = e
    out.append(row.text[pos:])
    return Row("".join(out), tuple(spans))


def training_rows(lang: str, corpus: Path, rng: random.Random,
                  limit: int = MAX_SENTENCES) -> tuple[list[Row], list[Row]]:
    real = read_rows(corpus / f"{lang}.train.jsonl")
    rng.shuffle(real)
    n_val = min(800, len(real) // 20)
    val, train = real[:n_val], subsample(real[n_val:], rng, limit)
    extra = template_rows(lang, TEMPLATE_SENTENCES, SEED)
    if lang == "de":
        filler = Filler(lang, SEED + 1)
        extra += [s for s in (swap_names(r, filler) for r in train) if s is not None]
    rows = [recase(r, rng) for r in [*train, *extra]]
    rng.shuffle(rows)
    return rows, val


def to_examples(nlp: Any, rows: Sequence[Row]) -> list[Any]:
    from spacy.tokens import Span as SpacySpan
    from spacy.training import Example

    examples = []
    for row in rows:
        ref = nlp.make_doc(row.text)
        spans: list[SpacySpan] = []
        for s, e, lab in row.entities:
            span = ref.char_span(s, e, label=lab, alignment_mode="contract")
            if span is not None and len(span) and all(span.start >= o.end or span.end <= o.start for o in spans):
                spans.append(span)
        ref.ents = spans
        examples.append(Example(nlp.make_doc(row.text), ref))
    return examples


NER_CONFIG: dict[str, Any] = {
    "model": {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False,
        "hidden_width": 64, "maxout_pieces": 2, "use_upper": True, "nO": None,
        "tok2vec": {
            "@architectures": "spacy.Tok2Vec.v2",
            "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 96,
                      "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"], "rows": [10000, 2500, 5000, 2500],
                      "include_static_vectors": False},
            "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 96, "depth": 4,
                       "window_size": 1, "maxout_pieces": 3},
        },
    },
}


def batches(examples: list[Any], rng: random.Random) -> Iterator[list[Any]]:
    from spacy.util import minibatch

    order = list(examples)
    rng.shuffle(order)
    yield from minibatch(order, size=32)  # type: ignore[no-untyped-call]


def person_scores(nlp: Any, examples: list[Any]) -> dict[str, float]:
    scores = nlp.evaluate(examples)
    per = (scores.get("ents_per_type") or {}).get("PER", {"p": 0.0, "r": 0.0, "f": 0.0})
    return {"p": float(per["p"]), "r": float(per["r"]), "f": float(per["f"]), "ents_f": float(scores["ents_f"])}


LICENCES = {  # the training sources' licences (NOTICE): share-alike sources make the model share-alike
    "pl": ("CC BY 4.0", ["NKJP 1M subcorpus NER layer (IPI PAN), CC BY 4.0"]),
    "da": ("CC BY-SA 4.0", ["Universal NER Danish-DDT, CC BY-SA 4.0", "DaN+ web (Arto, Twitter), MIT"]),
    "ro": ("MIT", ["RONEC v1 + v2 validation split (Dumitrescu & Avram), MIT"]),
    "ru": ("CC BY-SA 3.0", ["Universal NER Russian-PUD, CC BY-SA 3.0"]),
    "de": ("CC BY-SA 3.0", ["GermEval 2014 dev split, CC BY 4.0", "Universal NER German-PUD, CC BY-SA 3.0"]),
    "en": ("CC BY-SA 4.0", ["Universal NER English-EWT (first release), CC BY-SA 4.0",
                            "Universal NER English-PUD, CC BY-SA 3.0", "WNUT 2017, CC BY 4.0"]),
}
# the pooled model learns from all five: share-alike (BY-SA 3.0 material may be adapted under 4.0)
LICENCES["xx"] = ("CC BY-SA 4.0", [src for lang in LANGS for src in LICENCES[lang][1]])


def stamp_meta(out: Path, lang: str) -> None:
    """Name, licence and sources in the pipeline's meta.json (see NOTICE for the attributions)."""
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    licence, sources = LICENCES[lang]
    meta.update(name=f"switchboard_ner_{lang}", version="1.0.0", license=licence, sources=sources,
                description="Switchboard person/place/organisation tagger (PER, LOC, ORG, MISC); "
                            "trained by privacy/ner/train.py, see privacy/ner/models/README.md")
    (out / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def save(nlp: Any, out: Path) -> None:
    """Write the pipeline without the corpus vocabulary: the hashed features need no strings, and the
    string store would otherwise ship every training word (names included) and megabytes."""
    import spacy

    nlp.to_disk(out)
    strings = sorted({*spacy.blank(nlp.lang).vocab.strings, *LABELS})
    (out / "vocab" / "strings.json").write_text(json.dumps(strings, ensure_ascii=False), encoding="utf-8")
    stamp_meta(out, nlp.lang)


def _pipeline(lang: str, config: dict[str, Any]) -> Any:
    """A blank pipeline of ``lang`` with one untrained NER component for LABELS."""
    import spacy

    nlp = spacy.blank(lang)
    ner: Any = nlp.add_pipe("ner", config=config)
    for label in LABELS:
        ner.add_label(label)
    return nlp


Evaluation = Callable[[Any], tuple[float, dict[str, Any], str]]  # nlp → (F to select by, record, log line)


def _fit(nlp: Any, train: list[Any], rng: random.Random, epochs: int, evaluate: Evaluation,
         out: Path, tag: str, init_examples: int) -> dict[str, Any]:
    """Train for ``epochs``, evaluating the averaged weights after each; the best epoch is saved to ``out``."""
    optimizer = nlp.initialize(lambda: train[:init_examples])
    best: dict[str, Any] = {"f": -1.0}
    for epoch in range(epochs):
        losses: dict[str, float] = {}
        for batch in batches(train, rng):
            nlp.update(batch, drop=0.25, sgd=optimizer, losses=losses)
        with nlp.use_params(optimizer.averages):
            f, record, line = evaluate(nlp)
            print(f"{tag} epoch {epoch + 1}: loss {losses.get('ner', 0):.0f} {line}", flush=True)
            if f > best["f"]:
                best = {**record, "epoch": epoch + 1}
                save(nlp, out)
    return best


def _write_meta(out: Path, meta: dict[str, Any], started: float) -> dict[str, Any]:
    meta = {**meta, "seconds": round(time.perf_counter() - started, 1), "seed": SEED}
    (out / "training.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta


def train_language(lang: str, corpus: Path, out: Path) -> dict[str, Any]:
    from spacy.util import fix_random_seed  # type: ignore[attr-defined]

    fix_random_seed(SEED)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    started = time.perf_counter()
    rows, val_rows = training_rows(lang, corpus, rng)
    nlp = _pipeline(lang, NER_CONFIG)
    train, val = to_examples(nlp, rows), to_examples(nlp, val_rows)

    def evaluate(nlp: Any) -> tuple[float, dict[str, Any], str]:
        sc = person_scores(nlp, val)
        return sc["f"], sc, (f"PER p {sc['p']:.3f} r {sc['r']:.3f} f {sc['f']:.3f} "
                             f"(all ents f {sc['ents_f']:.3f})")

    best = _fit(nlp, train, rng, EPOCHS.get(lang, DEFAULT_EPOCHS), evaluate, out, lang, 2000)
    return _write_meta(out, {"lang": lang, "sentences": len(rows), "validation_sentences": len(val_rows),
                             "best": best}, started)


POOLED = "xx"  # the multilingual second-opinion model (privacy.ner.SECOND_OPINION)
POOLED_MAX_SENTENCES = 25_000  # Polish share of the pooled model: all person sentences plus others
POOLED_EPOCHS = 6
POOLED_ROWS = [40000, 5000, 10000, 2500]  # NORM/PREFIX/SUFFIX/SHAPE: five languages share the tables


def train_pooled(corpus: Path, out: Path, epochs: int = POOLED_EPOCHS) -> dict[str, Any]:
    """One model over all five languages' training rows (each prepared as for its own model, Polish
    capped at POOLED_MAX_SENTENCES): thin languages borrow from the others. The epoch is picked by the
    mean person F over the languages' held-back rows."""
    from spacy.util import fix_random_seed  # type: ignore[attr-defined]

    fix_random_seed(SEED)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    started = time.perf_counter()
    rows: list[Row] = []
    vals: dict[str, list[Row]] = {}
    for lang in LANGS:
        lang_rows, vals[lang] = training_rows(lang, corpus, rng, limit=POOLED_MAX_SENTENCES)
        rows += lang_rows
    rng.shuffle(rows)
    config = json.loads(json.dumps(NER_CONFIG))
    config["model"]["tok2vec"]["embed"]["rows"] = POOLED_ROWS
    nlp = _pipeline(POOLED, config)
    train = to_examples(nlp, rows)
    val = {lang: to_examples(nlp, v) for lang, v in vals.items()}

    def evaluate(nlp: Any) -> tuple[float, dict[str, Any], str]:
        per_lang = {lang: person_scores(nlp, v) for lang, v in val.items()}
        mean = sum(sc["f"] for sc in per_lang.values()) / len(per_lang)
        line = f"mean PER f {mean:.3f} " + " ".join(f"{lang} {sc['f']:.3f}" for lang, sc in per_lang.items())
        return mean, {"f": mean, "per_language": per_lang}, line

    best = _fit(nlp, train, rng, epochs, evaluate, out, POOLED, 3000)
    return _write_meta(out, {"lang": POOLED, "languages": list(LANGS), "sentences": len(rows),
                             "validation_sentences": sum(map(len, vals.values())), "best": best}, started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--langs", default=",".join(ALL_MODELS), help="languages to train; xx = the pooled model")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=MODELS)
    a = ap.parse_args()
    for lang in a.langs.split(","):
        meta = train_pooled(a.corpus, a.out / lang) if lang == POOLED else train_language(lang, a.corpus, a.out / lang)
        print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()
