"""Known places and organisations, so that "Krakowie", "Moscovei", "Москве" or "Novo Nordisk A/S" are not
taken for people.

``load_gazetteer()`` (or ``Gazetteer.load()``) reads ``data/gazetteer/<lang>.txt`` (built by
``python -m privacy.data.build_gazetteer``), one language at a time on first use: from the index built
from it at build time (``<lang>.index.pickle.gz``, ``python -m privacy.data.build_gazetteer_index``; ~40 ms
instead of ~0.5 s per language) when that index was built from the same file, else from the file itself.
``match(words, lang)`` says whether a run of tokens is a known place or organisation:

- declined forms match through the lexicon's stemming (``stem_candidates`` / ``base_of`` /
  ``StemIndex``): "Krakowie" → "kraków", "Moscovei" → "moscova", "Москве" → "москва",
  "Københavns" → "københavn"; in a phrase every word may be declined ("Stanach Zjednoczonych");
- diacritics are folded on both sides, so chat written without them still matches ("Bucuresti",
  "Krakow", "Lodz"); Russian ё is read as е;
- a phrase with an organisation head word ("Ministerstwo Finansów", "Universitatea din București",
  "Deutsche Bank") is an organisation, and so is a Danish/German compound ending in one
  ("Finanzministerium", "Udenrigsministeriet").

``org_suffix_after(text, end)`` / ``org_prefix_before(text, start)`` tell whether a legal form follows a
span ("Siemens AG", "Orlen S.A.", "Novo Nordisk A/S") or stands before it ("ООО «Ромашка»", "S.C. Petrom",
"A/S Bladkompagniet").
A legal form says "company", not "no person": sole traders and partnerships carry their owners' names
("Jan Kowalski sp. j.", "Hans Müller e.K."), so "ИП" counts only before a quoted name.

Known limits: a single word that is both a place and a first name or surname matches ("Paris", "Praga",
"London", "Houston", pl "Polak"); the builder keeps such words only when the training data labels them
as a place or organisation often and never as a person. Callers should let a strong person cue (an
honorific, a first name before it) win over the gazetteer.

Every lookup is a bounded number of set look-ups per word (no regular expression with nested
quantifiers, phrases longer than ``MAX_PHRASE`` tokens are not looked up), and any Unicode string is
accepted.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import pickle
import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from privacy.lexicon import SUPPORTED, StemIndex, base_of, stem_candidates
from privacy.text import normalise, tokenize

log = logging.getLogger(__name__)

DIRECTORY = Path(__file__).parent / "data" / "gazetteer"
MAX_PHRASE = 10  # tokens; the longest entries (official country names) have 8
_MAX_WORD = 48  # characters; longer "words" are no place names
_MIN_BASE = 4  # a stripped stem must be this long to match an entry's base (not its whole form)
_KEY = 3  # phrase buckets are keyed by the first letters of each word
_NAME_ENDING = 2  # a name's stem counts only without an ending this long ("-ului", "-ie", not "-s", "-a")
DECLINING = frozenset({"pl", "ro", "ru"})  # the others only add a genitive -s to a name

# ---------------------------------------------------------------------------------------------------
# organisation head words: nominatives (declined forms are found by stemming) plus the declined forms
# of short words whose stem would be too short or alternates (rada → radzie, urząd → urzędu)
ORG_HEAD_WORDS: Mapping[str, frozenset[str]] = {
    "pl": frozenset({
        "ministerstwo", "uniwersytet", "uniwersytecie", "politechnika", "politechnice", "akademia",
        "akademii", "bank", "partia", "spółka", "spółce", "firma", "firmie", "rada", "rady", "radzie", "radę",
        "radą", "agencja", "urząd", "urzędu", "urzędzie", "instytut", "instytucie", "fundacja",
        "stowarzyszenie", "związek", "komisja", "sąd", "sądu", "sądzie", "trybunał", "szkoła", "szkole",
        "szpital", "prokuratura", "prokuraturze", "kancelaria", "izba", "izby", "izbie", "departament",
        "departamencie", "zarząd", "zarządu", "zarządzie", "grupa", "grupie", "zakład", "zakłady",
        "zakładzie", "przedsiębiorstwo", "przedsiębiorstwie", "komenda", "komendzie", "komitet",
        "komitecie", "federacja", "stocznia", "stoczni", "huta", "hucie", "wydział", "wydziale",
        "inspektorat", "inspektoracie", "główny", "główna", "głównego", "głównej", "narodowy",
        "narodowego", "krajowa", "krajowej", "krajowy", "krajowego", "wojewódzki", "wojewódzkiego",
    }),
    "ro": frozenset({
        "minister", "universitate", "bancă", "banca", "partid", "companie", "firmă", "firma",
        "societate", "consiliu", "agenție", "agentie", "guvern", "primărie", "curte", "tribunal",
        "judecătorie", "institut", "fundație", "asociație", "senat", "parlament", "direcție",
        "autoritate", "grup", "facultate", "spital", "școală", "colegiu", "liceu", "inspectorat",
        "oficiu", "comisie", "comitet", "federație", "uniune", "academie", "agenția",
        "parchet", "parchetul", "departament", "serviciu", "regie", "administrație", "camera",
        "camerei", "uzina", "uzinei", "combinat", "corporație", "holding", "prefectură",
    }),
    "ru": frozenset({
        "министерство", "университет", "банк", "партия", "компания", "совет", "агентство", "служба",
        "комитет", "комиссия", "институт", "академия", "фонд", "суд", "суда", "суде", "правительство",
        "администрация", "управление", "департамент", "корпорация", "группа", "холдинг", "завод",
        "объединение", "союз", "ассоциация", "организация", "общество", "школа", "больница", "центр",
        "концерн", "биржа", "дума", "госдума", "прокуратура", "федерация", "палата", "инспекция",
        "казначейство", "министерства", "предприятие", "фабрика", "комбинат", "колледж", "лицей",
    }),
    "de": frozenset({
        "ministerium", "bundesministerium", "universität", "hochschule", "fachhochschule", "bank", "partei",
        "firma", "gesellschaft", "verband", "verein", "stiftung", "institut", "agentur", "behörde", "amt",
        "bundesamt", "landesamt", "rat", "gericht", "kommission", "ausschuss", "konzern", "gruppe",
        "klinikum", "krankenhaus", "schule", "akademie", "senat", "regierung", "verwaltung", "kammer",
        "sparkasse", "versicherung", "werke", "stadtwerke", "bundestag", "landtag", "bundesrat",
        "staatsanwaltschaft", "polizei", "landratsamt", "rathaus", "genossenschaft", "holding",
    }),
    "da": frozenset({
        "ministerium", "ministeriet", "universitet", "universitetet", "bank", "banken", "parti", "partiet",
        "firma", "firmaet", "selskab", "selskabet", "styrelse", "styrelsen", "råd", "rådet", "kommune",
        "kommunen", "region", "regionen", "agentur", "institut", "instituttet", "fond", "fonden",
        "forening", "foreningen", "forbund", "forbundet", "gruppen", "koncern", "koncernen", "hospital",
        "hospitalet", "sygehus", "skole", "skolen", "akademi", "domstol", "byret", "landsret",
        "folketinget", "politi", "sparekasse", "forsikring", "holding", "erhvervsakademi",
    }),
    "en": frozenset({
        "ministry", "department", "university", "college", "bank", "party", "company", "corporation",
        "council", "agency", "authority", "commission", "committee", "institute", "foundation",
        "association", "federation", "union", "society", "group", "trust", "hospital", "school", "court",
        "office", "parliament", "government", "police", "board", "bureau", "airlines", "airways",
        "holdings", "partners", "technologies", "systems", "solutions", "consulting", "enterprises",
        "industries", "incorporated", "limited", "academy", "church", "fund", "service", "services",
    }),
}
# Danish and German write compounds as one word: "Finanzministerium", "Udenrigsministeriet"
ORG_COMPOUND_ENDINGS: Mapping[str, tuple[str, ...]] = {
    "de": ("ministerium", "ministeriums", "universität", "hochschule", "partei", "gesellschaft", "verband",
           "stiftung", "behörde", "bundesamt", "landesamt", "gericht", "gerichts", "kommission", "konzern",
           "krankenhaus", "klinikum", "sparkasse", "versicherung", "genossenschaft", "bank", "werke", "amt",
           "amts"),
    "da": ("ministeriet", "ministeriets", "ministerium", "universitet", "universitetet", "universitets",
           "styrelsen", "styrelsens", "partiet", "kommune", "kommunes", "kommunen", "kommunens", "regionen",
           "selskab", "selskabet", "forening", "foreningen", "fonden", "banken", "hospital", "hospitalet",
           "sygehus", "domstol", "byret", "landsret"),
}
_COMPOUND_MIN_HEAD = 3  # letters before the ending: "Finanz|ministerium", not "Amt" itself

# ---------------------------------------------------------------------------------------------------
# legal forms. Literal alternatives only (no nested quantifiers); longer forms first.
_LEGAL_AFTER = (
    r"GmbH\s?&\s?Co\.\s?KGaA", r"GmbH\s?&\s?Co\.\s?KG", r"AG\s?&\s?Co\.\s?KG", r"gGmbH", r"GmbH", r"mbH",
    r"KGaA", r"AG", r"KG", r"OHG", r"GbR", r"UG", r"e\.\s?V\.", r"e\.\s?K\.", r"eG", r"SE",
    r"A/S", r"ApS", r"I/S", r"IVS", r"P/S", r"K/S", r"A\.m\.b\.A\.", r"AmbA", r"A\.M\.B\.A\.",
    r"[Ss]p\.\s?z\s?o\.\s?o\.", r"[Ss]p\.\s?z\s?o\.o", r"[Ss]półka z o\.\s?o\.", r"[Ss]p\.\s?j\.",
    r"[Ss]p\.\s?k\.", r"[Ss]p\.\s?p\.", r"S\.K\.A\.", r"[Ss]półka [Aa]kcyjna", r"S\.A\.S\.", r"S\.R\.L\.",
    r"S\.A\.", r"S\.A", r"SRL", r"SA", r"SAS", r"SARL", r"SCA", r"SCS", r"SNC",
    r"Ltd\.", r"Ltd", r"LTD", r"Limited", r"plc", r"PLC", r"Inc\.", r"Inc", r"LLC", r"LLP", r"L\.L\.C\.",
    r"Corp\.", r"Corp", r"&\s?Co\.", r"Co\.", r"N\.V\.", r"NV", r"B\.V\.", r"BV", r"AB", r"Oyj", r"Oy", r"ASA", r"AS",
    r"ООО", r"ЗАО", r"ОАО", r"ПАО", r"НАО", r"АО",
)
_LEGAL_BEFORE = (
    r"ООО", r"ЗАО", r"ОАО", r"ПАО", r"НАО", r"АО", r"ФГУП", r"ГУП", r"МУП", r"АНО", r"НКО", r"ОДО",
    r"S\.C\.", r"S\.C", r"SC", r"SNC", r"A/S", r"I/S",
)
_SPACE = r"[ \t\u00a0\u202f]"
_CLOSE_QUOTE = r"[\"'»”“’]"
_OPEN_QUOTE = r"[\"'«„“‘‹]"
_AFTER_COMMA = (r"Inc\.", r"Inc", r"LLC", r"LLP", r"L\.L\.C\.", r"Ltd\.", r"Ltd", r"Limited", r"plc", r"PLC", r"Corp\.")
# the form ends the word: not "AGD", "SAS-ul", "AS2"
ORG_SUFFIX_RE = re.compile(
    rf"{_CLOSE_QUOTE}?{_SPACE}{{0,3}}(?:(?:{'|'.join(_LEGAL_AFTER)})|,{_SPACE}{{0,3}}(?:{'|'.join(_AFTER_COMMA)}))"
    r"(?![^\W_]|-[^\W_])"
)
# matched against the few characters before a span start: the form, spaces, an optional opening quote
ORG_PREFIX_RE = re.compile(
    rf"(?<![^\W_])(?:(?:{'|'.join(_LEGAL_BEFORE)}){_SPACE}{{0,3}}{_OPEN_QUOTE}?|ИП{_SPACE}{{0,3}}{_OPEN_QUOTE})\Z"
)
_PREFIX_WINDOW = 16
# a whole span that carries its legal form: "Novo Nordisk A/S", "ООО «Ромашка»"
_WITH_SUFFIX_RE = re.compile(rf"[^\W_][\"'»”“’.]?{_SPACE}{{1,3}}(?:{'|'.join(_LEGAL_AFTER)})\Z")
_WITH_PREFIX_RE = re.compile(
    rf"\A(?:(?:{'|'.join(_LEGAL_BEFORE)}){_SPACE}{{1,3}}{_OPEN_QUOTE}?|ИП{_SPACE}{{1,3}}{_OPEN_QUOTE})[^\W_]"
)


def org_suffix_after(text: str, end: int) -> bool:
    """Does a legal form ("AG", "A/S", "Sp. z o.o.", "S.R.L.", "Ltd", ...) follow the span ending at ``end``?"""
    if not 0 <= end <= len(text):
        return False
    return ORG_SUFFIX_RE.match(text, end) is not None


def org_prefix_before(text: str, start: int) -> bool:
    """Does a legal form stand before the span starting at ``start`` ("ООО «Ромашка»", "S.C. Petrom SA")?"""
    if not 0 <= start <= len(text):
        return False
    return ORG_PREFIX_RE.search(text[max(0, start - _PREFIX_WINDOW):start]) is not None


# ---------------------------------------------------------------------------------------------------
def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in range(0xC0, 0x250):
        decomposed = unicodedata.normalize("NFD", chr(cp))
        if len(decomposed) > 1 and decomposed[0].isascii() and decomposed[0].isalpha():
            table[cp] = decomposed[0]
    table.update({ord(k): v for k, v in {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss",
                                           "đ": "d", "Đ": "D", "ё": "е", "Ё": "Е", "’": "'"}.items()})
    return table


_FOLD = _fold_table()


def fold(word: str) -> str:
    """Lower case without Latin diacritics: "Kraków" → "krakow", "Țării" → "tarii", "Кёльн" → "кельн"."""
    return normalise(word).translate(_FOLD)


def _candidates(word: str, declines: bool) -> list[str]:
    """The folded word and its folded stems. Polish, Romanian and Russian: one case ending off ("Krakowie" →
    krakowie, krakow, ...); Danish, German and English: the genitive -s or 's off ("Københavns")."""
    w = normalise(word)
    if declines:
        stems = stem_candidates(w)
    else:
        stems = [w]
        for ending in ("'s", "’s", "s"):
            if w.endswith(ending) and len(w) - len(ending) >= _KEY:
                stems.append(w[: -len(ending)])
                break
    out: list[str] = []
    for c in stems:
        f = c.translate(_FOLD)
        if f not in out:
            out.append(f)
    return out


@dataclass(frozen=True, slots=True)
class _Word:
    """One looked-up word: its candidates, and whether it is (a declined form of) a person's name. A name
    counts only as written, a declined name also without a long ending ("Parisului" → "paris"), and only
    against entries as written: "Frances" is no "France", "Мельников" no "Мельник", "Mazura" no "Mazury"."""

    cands: list[str]
    name: bool

    @classmethod
    def of(cls, word: str, declines: bool) -> _Word:
        cands = _candidates(word, declines)
        names = _names()
        stems = cands if declines else _candidates(word, True)
        if cands[0] in names.exact:  # "Frances", "Мельников": the word as written, or nothing
            return cls(cands[:1], True)
        if any(c in names.bases for c in stems[1:]):  # "Parisului", "Mazura": declined
            full = len(cands[0])
            return cls([cands[0], *(c for c in cands[1:] if full - len(c) >= _NAME_ENDING)], True)
        return cls(cands, False)


def _in(index: StemIndex, word: _Word, declines: bool) -> bool:
    """The word or one of its stems is an entry, or (declining languages, not a name) a long enough stem of
    one."""
    if any(c in index.exact for c in word.cands):
        return True
    return declines and not word.name and any(len(c) >= _MIN_BASE and c in index.bases for c in word.cands[1:])


def _word_matches(word: _Word, entry_word: str, declines: bool) -> bool:
    if entry_word in word.cands:
        return True
    if not declines or word.name:
        return False
    bases = {b.translate(_FOLD) for b in base_of(entry_word)}
    return any(len(c) >= _MIN_BASE and c in bases for c in word.cands[1:])


def _words(words: Sequence[str]) -> list[str] | None:
    """The caller's words re-split like the entries ("A/S" → "A", "S"); None when too long to be a name."""
    out: list[str] = []
    for w in words:
        if not isinstance(w, str):
            return None
        out += [t.text for t in tokenize(w[: _MAX_WORD * 4])]
        if len(out) > MAX_PHRASE:
            return None
    return out if out and all(len(w) <= _MAX_WORD for w in out) else None


@dataclass(frozen=True, slots=True)
class _Index:
    declines: bool  # pl, ro, ru: match declined forms through stems
    words: StemIndex  # one-token entries, folded
    phrases: frozenset[str]  # multi-token entries, folded, joined by one space
    buckets: Mapping[tuple[str, ...], tuple[tuple[str, ...], ...]]  # first letters of each word → entries
    heads: StemIndex
    compound_endings: tuple[str, ...]

    def match(self, words: Sequence[str]) -> bool:
        looked = [_Word.of(w, self.declines) for w in words]
        if len(words) == 1:
            return _in(self.words, looked[0], self.declines) or self._compound(looked[0])
        folded = [w.cands[0] for w in looked]
        if " ".join(folded) in self.phrases:
            return True
        bucket = self.buckets.get(tuple(f[:_KEY] for f in folded), ())
        if any(all(_word_matches(w, e, self.declines) for w, e in zip(looked, entry, strict=True))
               for entry in bucket):
            return True
        return self._headed(looked)

    def _headed(self, looked: Sequence[_Word]) -> bool:
        """An organisation head word anywhere in the phrase; one that is also a person's name ("Rada",
        "Church", "Curt") only first and before a word that is no name: "Rada Miasta", not "Rada Allard"."""
        for i, w in enumerate(looked):
            if not _in(self.heads, w, self.declines):
                continue
            if not w.name or (i == 0 and not looked[1].name):
                return True
        return False

    def _compound(self, word: _Word) -> bool:
        w = word.cands[0]
        return any(w.endswith(e) and len(w) - len(e) >= _COMPOUND_MIN_HEAD for e in self.compound_endings)


@lru_cache(maxsize=1)
def _names() -> StemIndex:
    """First names and surnames (folded), to tell "Mazura" (a surname, declined) from "Mazury" (a region)."""
    data = Path(__file__).parent / "data"
    out: list[str] = []
    for name in ("first_names.txt", "last_names.txt"):
        path = data / name
        if path.exists():
            out += [fold(w) for w in path.read_text(encoding="utf-8").split("\n") if w.strip()]
    return StemIndex.build(out)


@lru_cache(maxsize=16)
def _index(directory: Path, lang: str) -> _Index:
    path = directory / f"{lang}.txt"
    data = path.read_bytes() if path.exists() else b""
    return _prebuilt(directory, lang, data) or build_index(lang, data.decode("utf-8"))


def index_file(directory: Path, lang: str) -> Path:
    return directory / f"{lang}.index.pickle.gz"


def _prebuilt(directory: Path, lang: str, data: bytes) -> _Index | None:
    """The index `build_index` made from `data` at build time, if there is one (our own file, read like
    code: it ships in the package)."""
    try:
        digest, index = pickle.loads(gzip.decompress(index_file(directory, lang).read_bytes()))
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged or outdated file: build from the list instead
        log.warning("gazetteer index for %s unreadable (%s): building it from the word list", lang, exc)
        return None
    if digest != hashlib.sha256(data).hexdigest() or not isinstance(index, _Index):
        log.warning("gazetteer index for %s is older than its word list: building it from the list "
                    "(run python -m privacy.data.build_gazetteer_index)", lang)
        return None
    return index


def write_index(directory: Path, lang: str) -> Path:
    """Build `lang`'s index from its word list and store it next to it, with the list's digest."""
    data = (directory / f"{lang}.txt").read_bytes()
    payload = pickle.dumps((hashlib.sha256(data).hexdigest(), build_index(lang, data.decode("utf-8"))), protocol=5)
    out = index_file(directory, lang)
    out.write_bytes(gzip.compress(payload, compresslevel=6, mtime=0))
    return out


def build_index(lang: str, text: str) -> _Index:
    """The lookup structures for one language's word list (one entry per line)."""
    entries = text.split("\n") if text else []
    singles: list[str] = []
    phrases: set[str] = set()
    buckets: defaultdict[tuple[str, ...], set[tuple[str, ...]]] = defaultdict(set)
    for entry in entries:
        toks = tuple(fold(t.text) for t in tokenize(entry))
        if len(toks) == 1:
            singles.append(toks[0])
        elif 1 < len(toks) <= MAX_PHRASE:
            phrases.add(" ".join(toks))
            buckets[tuple(t[:_KEY] for t in toks)].add(toks)
    heads = [fold(h) for h in ORG_HEAD_WORDS.get(lang, frozenset())]
    return _Index(
        declines=lang in DECLINING,
        words=StemIndex.build(singles),
        phrases=frozenset(phrases),
        buckets={k: tuple(sorted(v)) for k, v in buckets.items()},
        heads=StemIndex.build(heads),
        compound_endings=tuple(fold(e) for e in ORG_COMPOUND_ENDINGS.get(lang, ())),
    )


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """Places and organisations per language; see the module docstring."""

    directory: Path = DIRECTORY

    @classmethod
    def load(cls) -> Gazetteer:
        return load_gazetteer()

    def match(self, words: Sequence[str], lang: str) -> bool:
        """Is this run of tokens (["Krakowie"], ["Novo", "Nordisk"]) a known place or organisation? A run
        that carries its own legal form (["Novo", "Nordisk", "A/S"], ["ООО", "«Ромашка»"]) is one."""
        toks = _words(words)
        if toks is None:
            return False
        joined = " ".join(words)
        if _WITH_SUFFIX_RE.search(joined) or _WITH_PREFIX_RE.match(joined):
            return True
        return _index(self.directory, lang if lang in SUPPORTED else "en").match(toks)

    def warm(self, langs: Sequence[str] = SUPPORTED) -> None:
        for lang in langs:
            _index(self.directory, lang if lang in SUPPORTED else "en")


@lru_cache(maxsize=1)
def load_gazetteer() -> Gazetteer:
    return Gazetteer()
