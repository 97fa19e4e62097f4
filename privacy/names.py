"""Person names in every supported language, from structure more than from lists.

A candidate is a run of capitalised words. It is a person when enough of these say so:
an honorific before it (pan/pani, hr./fru, domnul/doamna, Herr/Frau, господин/госпожа),
a known first name (declined forms included), a Russian patronymic, a role or verb of
addressing around it ("colleague", "powiedz", "Spune-i lui"), "<Name> from sales", or — in
languages that write common nouns in lower case — just being a capitalised word that is not
sentence-initial and not a known place, brand, month or language. It is a thing when a decoy
word stands next to it ("Curie room", "sala Curie", "metoda Gaussa", "Gauss-Methode") or a
determiner before it ("our Vortex pump"). German capitalises every noun, so there a candidate
must also not look like a noun (frequent word, compound with a known head, noun suffix).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from privacy.gazetteer import fold
from privacy.lexicon import SUPPORTED, Lexicon, StemIndex, stem_candidates
from privacy.text import Token, mask_non_prose, normalise, tokenize
from privacy.verdict import Finding

# languages without own word lists borrow a neighbour's
FALLBACK = {"nb": "da", "sv": "da", "no": "da", "uk": "ru", "bg": "ru", "nl": "de", "cs": "pl", "sk": "pl"}
_PARTICLES = frozenset({"van", "von", "de", "da", "di", "del", "der", "den", "la", "le", "du", "dos", "zu", "ter"})
_ARTICLES = frozenset({"der", "den"})  # particles only after another ("von der", "van den")
_PATRONYMIC = re.compile(r"(ович|евич|ич|овна|евна|ична|инична)(а|у|ем|ом|ой|е|ы|ем)?$|(овн|евн|ичн)(е|у|ой|ы)$")
_UNCASED_MAX_ZIPF = 5.0
_DECLINED_MAX_ZIPF = 5.0  # a word this frequent is the word, not a declined first name
_FUNCTION_WORD_ZIPF = 5.0  # "Hvilke", "Dabei", "Which": no name is this frequent a word
_GERMAN_WORD_ZIPF = 3.5  # a lone German word this frequent is a noun ("Betriebsrat", "Meines"), not a name
_DIMINUTIVE = re.compile(
    r"(sia|sio|cia|nia|ka|ek|uś|usia|unia|ątko|uț|uța|ica|el|ela|ică|ușa|ша|ня|ся|шка|енька|очка|ечка|чик|ёк|ik|chen|le|li|i|ie|y)$"
)
_GERMAN_NOUN_SUFFIX = re.compile(
    r"(ung|heit|keit|schaft|tion|sion|ität|ismus|ment|nis|tum|chen|lein|ei|ur|enz|anz|ik|ie|eur|ling|ator|ent|ant|ist|ologe|ose)(en|s|e|n)?$"
)
_QUOTES = "\"'«»„“”‚‘’"


@dataclass(frozen=True, slots=True)
class Span:
    tokens: tuple[Token, ...]
    honorific: bool

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end


class PersonRecognizer:
    """Finds PERSON spans; pure over (text, language) given the lexicon."""

    entity_type = "PERSON"

    def __init__(self, lexicon: Lexicon) -> None:
        self._lex = lexicon
        self._decoy_index: dict[str, StemIndex] = {}
        self._head_index: dict[str, tuple[str, ...]] = {}
        self._brands: StemIndex | None = None

    def analyze(self, text: str, language: str) -> list[Finding]:
        lang = language if language in SUPPORTED else FALLBACK.get(language, "en")
        tokens = tokenize(mask_non_prose(text))
        findings = []
        signed_from = len(text.rstrip(_SIGN_TAIL))  # a span ending here or later ends the message
        for span, before, after in self._spans(tokens, lang):
            toks = self._trim(span, lang, before)
            if not toks:
                continue
            before = (before + list(span.tokens[: len(span.tokens) - len(toks)]))[-3:]  # "Remind Zebedee"
            score = self._score(Span(tuple(toks), span.honorific), before, after, lang, text)
            if not score and toks[-1].end >= signed_from and self._signature(toks, text, lang):
                score = 0.7
            if score > 0:
                findings.append(Finding(self.entity_type, toks[0].start, toks[-1].end, round(score, 2)))
        return findings + self._uncased_pairs(tokens, lang)

    def _signature(self, toks: list[Token], text: str, lang: str) -> bool:
        """One or two rare capitalised words after a dash that end the message (the caller checks the
        end) sign it: "… - Camron", "— Anna Nowak"."""
        if len(toks) > 2:
            return False
        head = text[:toks[0].start].rstrip(" \t")
        if not head.endswith(_SIGN_DASHES) or (len(head) > 1 and not head[-2].isspace()):
            return False
        return all(not self._everyday(t, lang, _GERMAN_WORD_ZIPF) and not self._is_place(t.text) for t in toks)

    def _uncased_pairs(self, tokens: list[Token], lang: str) -> list[Finding]:
        """"jan kowalski", "ивана петрова", "ANNA NOWAK": chat drops capitals, so a known first name
        followed by a known surname (or a Russian patronymic) in one case is a person."""
        out = []
        for a, b in itertools.pairwise(tokens):
            if not ((a.text.islower() and b.text.islower()) or (a.text.isupper() and b.text.isupper())):
                continue
            if b.start - a.end > 1 or len(a.text) < 2 or len(b.text) < 2:
                continue
            first, second = a.text.title(), b.text.title()
            if max(self._lex.freq.zipf(a.text, lang), self._lex.freq.zipf(b.text, lang)) >= _UNCASED_MAX_ZIPF:
                continue  # "the sales": word lists hold odd entries; everyday words are no names here
            if first in self._lex.first_names and (second in self._lex.last_names or _PATRONYMIC.search(b.lower)):
                out.append(Finding(self.entity_type, a.start, b.end, 0.8))
        return out

    def refine(self, text: str, spans: Sequence[tuple[int, int]], language: str) -> list[tuple[int, int] | None]:
        """The rules' opinion of other detectors' person spans: ``None`` when the rules call the span a
        thing (a brand, month or known place, a name next to a decoy word: "Curie room", "metoda Gaussa"),
        else the span without a sentence-initial common word the tagger took in ("Спроси Петрова")."""
        lang = language if language in SUPPORTED else FALLBACK.get(language, "en")
        tokens = tokenize(text)
        starts = [t.start for t in tokens]
        not_names = self._lex.words.get("not_names", lang) | self._lex.words.get("not_names", "en")
        out: list[tuple[int, int] | None] = []
        for s, e in spans:
            a, b = bisect.bisect_left(starts, s), bisect.bisect_left(starts, e)
            toks = [t for t in tokens[a:b] if t.end <= e]
            # a tagger's "Carola" of "Carola-jakker" is part of a compound noun
            touched = tokens[max(0, a - 1):b]
            if _compound_noun([t for t in touched if t.start < e and t.end > s]):
                out.append(None)
                continue
            words = [normalise(t.text) for t in toks if t.lower not in _PARTICLES]
            if not words or (all(len(w) < 2 for w in words) and not any(t.abbreviated for t in toks)):
                out.append(None if words else (s, e))  # "h." of "9 h.": no name has one letter
                continue
            if any(c.isdigit() for c in text[s:e]):  # "Auftrag SO-2024": codes and numbers are no names
                out.append(None)
                continue
            before, after = tokens[max(0, a - 3):a], tokens[b:b + 3]
            titled = self._titled(before, lang)  # "Kanzlerin Merkel": a frequent word, but titled
            named_thing = all(self._not_name(w, not_names) or self._is_place(w) for w in words) or (
                lang == "de" and len(toks) == 1 and not self._listed(toks[0], lang) and not titled and (
                    self._everyday(toks[0], lang, _GERMAN_WORD_ZIPF)
                    or (self._article_before(before, lang) or 0) > 0)) or (  # "der gesamte Lagerbestand"
                lang == "pl" and len(toks) == 1 and not self._listed(toks[0], lang)
                and words[0].endswith(_POLISH_DEMONYM))  # "Sosnowiczanin", "Portorykańczyk"
            # a message-opening verb ("Bekræft") or function word ("Hvilke", "Dabei", stressed "Dén"),
            # unless a listed name
            opening_verb = len(toks) == 1 and toks[0].initial and (
                self._imperative(toks[0], lang) or self._function_word(toks[0], lang))
            if named_thing or opening_verb or self._thing_head(toks, before, after, lang) \
                    or self._decoy(toks, before, after, lang, text) or self._brand_led(toks) \
                    or self._club_and_town(toks, lang):
                out.append(None)
                continue
            while len(toks) > 1 and len(toks[0].text) == 1 and not toks[0].abbreviated:
                toks = toks[1:]  # "h. Co powinno": a unit letter the tagger took in
            # "Спроси Петрова": a verb opening the message, taken into the name (never the whole span:
            # word frequency cannot tell "Спроси" from "Миллер")
            while len(toks) > 1 and toks[0].initial and self._everyday(toks[0], lang):
                toks = toks[1:]
            # everyday lower-case words ("powinno", "palle"); a pair the name lists know stays ("ивана петрова")
            listed = len(toks) > 1 and (all(t.text.title() in self._lex.first_names
                                            or t.text.title() in self._lex.last_names for t in toks)
                                        or (toks[0].text.title() in self._lex.first_names  # "justin bieber"
                                            and not self._common(toks[1], lang, _UNCASED_MAX_ZIPF)))
            if not listed and all(t.text.islower() and self._common(t, lang) for t in toks
                                  if t.lower not in _PARTICLES):
                out.append(None)
                continue
            out.append((max(s, toks[0].start), e))
        return out

    def named(self, text: str, span: tuple[int, int], language: str) -> bool:
        """Does a word of the span (or of a double-barrelled one) stand in the first-name or surname
        list ("Vestergaard-Holm", "MARGUERITE OYELARAN")?"""
        lang = language if language in SUPPORTED else FALLBACK.get(language, "en")
        for tok in tokenize(text[span[0]:span[1]]):
            for part in tok.text.split("-"):
                if len(part) > 1 and (self._listed(replace(tok, text=part.title()), lang)):
                    return True
        return False

    # candidates -------------------------------------------------------------------------------
    def _spans(self, tokens: list[Token], lang: str) -> list[tuple[Span, list[Token], list[Token]]]:
        honorifics = self._lex.words.get("honorifics", lang)
        out = []
        i, n = 0, len(tokens)
        hon_end = -1  # index of the last honorific token
        while i < n:
            tok = tokens[i]
            if normalise(tok.text) in honorifics or (tok.lower in _PARTICLES and hon_end == i - 1 >= 0):
                hon_end = i  # "Herr van der Bellen": the particles belong to the name the honorific opens
                i += 1
                continue
            if not (tok.is_capitalised or (tok.abbreviated and i + 1 < n and tokens[i + 1].is_capitalised)):
                i += 1
                continue
            j = i
            while j + 1 < n and self._continues(tokens, j, honorifics):
                j += 1
            if j > i and tokens[j].lower in _PARTICLES:  # "Sager-Dussen van" ends on a particle
                j -= 1
            hon = hon_end == i - 1 and hon_end >= 0 and _gap_ok(tokens[hon_end], tok)
            toks = tokens[i:j + 1]
            out.append((Span(tuple(toks), hon), tokens[max(0, i - 3):i], tokens[j + 1:j + 4]))
            i = max(j, i) + 1  # progress guarantee: every pass consumes at least one token
        return out

    @staticmethod
    def _continues(tokens: list[Token], j: int, honorifics: frozenset[str]) -> bool:
        nxt = tokens[j + 1]
        if nxt.initial or nxt.start - tokens[j].end > 2:
            return False
        if normalise(nxt.text) in honorifics:  # "Unser Mitarbeiter | Herr Becker": the honorific starts anew
            return False
        if nxt.is_capitalised or (nxt.abbreviated and j + 2 < len(tokens) and tokens[j + 2].is_capitalised):
            return True
        if nxt.lower in _ARTICLES and tokens[j].lower not in _PARTICLES:
            return False  # "Ende der Einfahrgruppe" is a genitive; "von der Leyen", "van den Berg" are names
        if nxt.lower not in _PARTICLES:
            return False
        after = tokens[j + 2:j + 4]  # a name word next, or a second particle and then one ("von der Leyen")
        return bool(after) and (after[0].is_capitalised or (
            len(after) == 2 and after[0].lower in _PARTICLES and after[1].is_capitalised))

    # scoring ----------------------------------------------------------------------------------
    def _score(self, span: Span, before: list[Token], after: list[Token], lang: str, text: str) -> float:
        words = self._lex.words
        toks = [t for t in span.tokens if t.lower not in _PARTICLES]
        if not toks:  # a particle alone after an honorific ("Herr De", "Dr. Den") is no name
            return 0.0
        lowers = [normalise(t.text) for t in toks]
        not_names = words.get("not_names", lang) | words.get("not_names", "en")
        if all(self._not_name(w, not_names) or self._is_place(w) for w in lowers) and not span.honorific:
            return 0.0
        if self._decoy(toks, before, after, lang, text):
            return 0.0
        if any(_PATRONYMIC.search(w) for w in lowers[1:] + lowers[:1]) and lang in ("ru", "uk", "bg"):
            return 0.9
        if span.honorific:
            return 0.9
        if self._brand_led(toks):  # "Toyota Carina", "Cessna", "Sonys brugerinterface"
            return 0.0
        if _acronym(before, toks, text):  # "A.J.O.F.M. Timiș", "D.A.C.L. Timișoara": an office, not initials
            return 0.0
        firsts = [t for t in toks if self._is_first(t, lang) or t.abbreviated]
        cue = self._cue(before, after, lang)
        initial = toks[0].initial
        if firsts and len(toks) >= 2:
            return 0.85
        if not self._determined(before, lang) and not self._quoted(toks, text):
            if len(toks) == 1 and (self._verb_after(toks[-1], after, lang) or _inverted_question(before, after, lang)
                                   or self._verb_before(toks[0], before, lang)) \
                    and not self._common(toks[0], lang, 4.5 if toks[0].text in self._lex.last_names else 3.5) \
                    and not _GERMAN_NOUN_SUFFIX.search(normalise(toks[0].text)) \
                    and not (lang == "de" and self._german_compound(normalise(toks[0].text))):
                # "Kowalczyk sent…", "Нургалиев уволил…", "Middelhoff habe…": a rare capitalised word
                # right before a finite verb is the sentence's subject, and that is a person far more
                # often than not (the model's LOC/ORG opinion still outweighs this 0.6)
                return max(0.6, cue) if cue >= 0.8 else 0.6
            score = self._single_or_unknown(toks, firsts, cue, initial, lang, self._titled(before, lang))
            # a strong cue ("Ziemowit z działu zakupów", "ask Becker") is evidence of its own
            return max(score, cue) if score > 0 and cue >= 0.8 else score
        return 0.0

    def _trim(self, span: Span, lang: str, before: list[Token]) -> list[Token]:
        toks = list(span.tokens)
        # sentence-initial verbs/common words that happen to stand before a name: "Sollte Lilija Bien"
        while (len(toks) > 1 and toks[0].initial and not toks[0].abbreviated and self._common(toks[0], lang)
               and not self._is_first(toks[0], lang)):
            toks = toks[1:]
        # a capitalised role or title opening the span is the cue, not the name: "Ritter Lyvet", "Kanzlerin Merkel"
        # (a surname too — "Ritter", "Graf", "König" — only after an article: "Der Ritter Lyvet")
        while len(toks) > 1 and self._titled(toks[:1], lang):
            preceding = [*before, *span.tokens[:span.tokens.index(toks[0])]]
            if self._listed(toks[0], lang) and not self._determined(preceding, lang):
                break
            toks = toks[1:]
        # a place right before or after the name: "Мэр Харькова Геннадий Кернес", "Anna Nowak Kraków"
        while len(toks) > 1 and self._is_place(toks[0].text):
            toks = toks[1:]
        while len(toks) > 1 and self._is_place(toks[-1].text):
            toks = toks[:-1]
        return toks

    def _single_or_unknown(self, toks: list[Token], firsts: list[Token], cue: float,
                           initial: bool, lang: str, titled: bool = False) -> float:
        if firsts:  # one known first name
            tok = firsts[0]
            if self._common(tok, lang, threshold=4.0):
                return 0.7 if cue >= 0.8 else 0.0
            return 0.85 if (cue or not initial) else 0.55  # a known first name: evidence of its own
        not_names = self._lex.words.get("not_names", lang)
        if any(self._not_name(t.text, not_names) for t in toks):
            return 0.0
        if all(self._is_place(t.text) for t in toks):
            return 0.0
        if len(toks) == 1 and cue < 0.8 and self._function_word(toks[0], lang):
            return 0.0  # one of the language's commonest words: "в День работника", "Dabei ist"
        surname = any(t.text in self._lex.last_names for t in toks)
        if lang == "de":
            # a word shaped like a German noun is one — unless a title or role stands right before it
            # ("Kanzlerin Merkel", "Ritter Lyvet")
            if not titled and any(self._german_noun(t) and t.text not in self._lex.last_names for t in toks):
                return 0.0
            if len(toks) >= 2:
                return 0.75
            return 0.65 if (cue >= 0.8 or (cue and (surname or self._namelike(toks[0], lang)))) else 0.0
        if lang == "en" and all(self._common(t, lang, threshold=3.3) for t in toks):
            return 0.7 if cue >= 0.8 else 0.0  # "Customer Portal", "Sales Team": title case, not people
        if initial and cue < 0.8:  # sentence-initial: capitals say nothing, the words must
            if len(toks) >= 2 and not any(self._common(t, lang) for t in toks):
                return 0.6
            if len(toks) == 1 and lang == "ru" and _RUSSIAN_SURNAME.search(toks[0].text) \
                    and self._lex.freq.zipf(toks[0].text, lang) < 1.0 and not self._is_place(toks[0].text):
                return 0.6  # "Пендерецкий в 1960-е годы был…": shaped like a surname, no word of the language
            return 0.0
        if len(toks) == 1 and lang == "en" and not cue:  # English capitalises more than names
            return 0.0
        return 0.8 if len(toks) >= 2 else 0.65

    # signals ----------------------------------------------------------------------------------
    @staticmethod
    def _not_name(word: str, not_names: frozenset[str]) -> bool:
        return any(c in not_names for c in stem_candidates(word))  # "Pythonie", "Excelu"

    def _is_place(self, word: str) -> bool:
        exact = self._lex.places.exact
        cands = stem_candidates(word)
        return word not in self._lex.first_names and (cands[0] in exact or any(
            len(c) >= 5 and c in exact for c in cands[1:]))

    def _verb_after(self, last: Token, after: list[Token], lang: str) -> bool:
        """Is the next word, straight after the name (a space, no punctuation), a finite verb?"""
        if not after or after[0].start - last.end != 1 or not after[0].text.islower():
            return False
        w = after[0].lower
        if lang in _AUXILIARY_AFTER_OK and w in self._lex.words.get("person_context_after", lang) \
                and w not in _DEPARTMENT_LINKS and w not in _WEAK_BEFORE:
            return True
        if lang == "ro" and w in ("a", "au") and len(after) > 1 and after[1].start - after[0].end == 1:
            # the compound past: "Olmert a propus", "Bolt a devenit", "Popescu a trimis"
            nxt = after[1].lower
            return len(nxt) > 3 and nxt.endswith(_RO_PARTICIPLE)
        return (w.endswith(_PAST_TENSE.get(lang, ())) and len(w) > 3) or w in _REPORTING.get(lang, ())

    @staticmethod
    def _verb_before(first: Token, before: list[Token], lang: str) -> bool:
        """German verb-second: a past-tense verb straight before the name ("erklärte Gates", "startete
        Sampras") — the name is the inverted subject."""
        if lang != "de" or not before or first.start - before[-1].end != 1:
            return False
        w = before[-1].text
        return w.islower() and len(w) > 4 and w.endswith(("te", "ten"))

    def _imperative(self, tok: Token, lang: str) -> bool:
        """A message-opening verb ("Bekræft", "Подтверди", "Zapytaj", "Bestätige"), not a name: the
        infinitive rebuilt from it is a frequent word, which a name's rebuilt form almost never is."""
        if self._listed(tok, lang):
            return False
        w = normalise(tok.text)
        return any(self._lex.freq.zipf(c, lang) >= _VERB_ZIPF for c in _infinitives(w, lang) if c != w)

    def _is_first(self, tok: Token, lang: str) -> bool:
        """A listed first name, or a declined form of one ("Anny", "Jacka") — but not an everyday word
        that only looks like a declined form ("Alle" of "Alla", "Ein" of "Eina", "Ende" of "Enda")."""
        names = self._lex.first_names
        if tok.text not in names:
            return False
        return normalise(tok.text) in names.exact or self._lex.freq.zipf(tok.text, lang) < _DECLINED_MAX_ZIPF

    def _common(self, tok: Token, lang: str, threshold: float = 3.0) -> bool:
        return self._lex.freq.zipf(tok.text, lang) >= threshold

    def _listed(self, tok: Token, lang: str) -> bool:
        """In the first-name list (declined forms included) or the surname list."""
        return self._is_first(tok, lang) or tok.text in self._lex.last_names

    def _everyday(self, tok: Token, lang: str, threshold: float = 3.0) -> bool:
        """A word at least this frequent that no name list holds."""
        return self._common(tok, lang, threshold) and not self._listed(tok, lang)

    def _function_word(self, tok: Token, lang: str) -> bool:
        """One of the language's commonest words, also when written with a stress accent ("Dén"); the
        very commonest even when a name list holds them by stem ("Dabei", "Eller")."""
        zipf = max(self._lex.freq.zipf(tok.text, lang), self._lex.freq.zipf(fold(tok.text), lang))
        if zipf >= _FUNCTION_WORD_ZIPF + 0.5:
            w = normalise(tok.text)
            return w not in self._lex.first_names.exact and w not in self._lex.last_names.exact
        return zipf >= _FUNCTION_WORD_ZIPF and not self._listed(tok, lang)

    def _namelike(self, tok: Token, lang: str) -> bool:
        return bool(_DIMINUTIVE.search(normalise(tok.text))) or self._lex.freq.zipf(tok.text, lang) < 2.0

    def _german_noun(self, tok: Token) -> bool:
        w = normalise(tok.text)
        parts = w.split("-")
        if len(parts) > 1:
            return any(self._german_noun_word(p) for p in parts)
        return self._german_noun_word(w)

    def _german_noun_word(self, w: str) -> bool:
        freq = self._lex.freq
        if freq.zipf(w, "de") >= 3.0 or _GERMAN_NOUN_SUFFIX.search(w):
            return True
        return any(freq.zipf(w[i:], "de") >= 3.0 for i in range(3, len(w) - 3))

    def _german_compound(self, w: str) -> bool:
        """Ends in a frequent German word of five letters or more, three letters or more before it:
        "Gesamtschule", "Turmtriebwagen" (not "Middelhoff", "Hollerbach", "Goldstein", "Kleinschmidt")."""
        if w in self._lex.last_names.exact or w.endswith(_GERMAN_SURNAME_ENDINGS):
            return False
        return any(self._lex.freq.zipf(w[i:], "de") >= 4.0 for i in range(3, len(w) - 4))

    def _cue(self, before: list[Token], after: list[Token], lang: str) -> float:
        words = self._lex.words
        ctx_before = words.get("person_context_before", lang)
        ctx_after = words.get("person_context_after", lang)
        departments = words.get("departments", lang)
        after_l = [normalise(t.text) for t in after]
        if after_l and after_l[0] in _DEPARTMENT_LINKS and any(w in departments for w in after_l[1:3]):
            return 0.9  # "Dominic from sales", "Miłosz z działu", "Traudel aus dem Vertrieb"
        if before and normalise(before[-1].text) in ctx_before:
            return 0.8 if normalise(before[-1].text) not in _WEAK_BEFORE else 0.5
        if after_l and after_l[0] in ctx_after:
            return 0.5
        return 0.0

    def _decoy(self, toks: list[Token], before: list[Token], after: list[Token], lang: str, text: str) -> bool:
        decoys = self._decoys(lang)
        for t in toks:
            if any(p in decoys for p in t.text.split("-")[1:]):  # "Gauss-Methode"
                return True
        # a possessive names the owner, not the thing named after him: "Cyrus Vance's plan" (≠ "Marshall plan")
        near = before[-1:] + ([] if toks[-1].text.endswith(("'s", "’s")) else after[:1])
        if len(before) >= 2 and normalise(before[-1].text) in _LINKS:  # "metoda lui Gauss", "method of Gauss"
            near.append(before[-2])
        for t in near:
            gap_ok = t.end <= toks[0].start and not _crosses_clause(text[t.end:toks[0].start])
            gap_ok = gap_ok or (t.start >= toks[-1].end and not _crosses_clause(text[toks[-1].end:t.start]))
            if gap_ok and t.text in decoys:
                return True
        return False

    def _thing_head(self, toks: Sequence[Token], before: Sequence[Token], after: Sequence[Token],
                    lang: str) -> bool:
        """Does a word that opens or closes names of places, venues, firms and titles bound the name
        ("Via Roma", "Railroad Hotel", "Nine News"), or stand capitalised right next to it ("Fyens
        Stiftstidende", "Place Pigalle" of which a tagger took one word)? A German or Danish compound
        ending in one counts ("Rejsebureau"). A lone head says nothing: "Hotel" alone is no name."""
        words = self._lex.words
        first, last = words.get("thing_first", lang), words.get("thing_last", lang)
        names = [normalise(t.text) for t in toks if t.lower not in _PARTICLES]
        if not names:
            return False

        def compound(word: str) -> bool:  # at least three letters before the head
            return lang in ("de", "da") and word[3:].endswith(self._compound_heads(lang))

        def closing(word: str) -> bool:
            return word in last or compound(word)

        if (len(names) >= 2 and (names[0] in first or names[-1] in last)) or compound(names[-1]):
            return True
        nxt = [t for t in after[:2] if t.is_capitalised or t.lower in _PARTICLES]
        prv = before[-1:]
        if nxt and nxt[0].start - toks[-1].end <= 1:
            if nxt[0].is_capitalised and closing(normalise(nxt[0].text)):
                return True  # "Fyens | Stiftstidende"
            if len(names) == 1 and names[0] in first and (nxt[0].is_capitalised or len(nxt) == 2):
                return True  # "Boulevard | de Clichy"
        return bool(prv) and toks[0].start - prv[0].end <= 1 and prv[0].is_capitalised \
            and normalise(prv[0].text) in first  # "Place | Pigalle"

    def _compound_heads(self, lang: str) -> tuple[str, ...]:
        """The closing head words long enough (five letters) to end a German or Danish compound."""
        if lang not in self._head_index:
            self._head_index[lang] = tuple(h for h in self._lex.words.get("thing_last", lang) if len(h) >= 5)
        return self._head_index[lang]

    def _club_and_town(self, toks: Sequence[Token], lang: str) -> bool:
        """Capitalised words closed by a known town, none of them a first name: a club, team or branch
        ("Deltacons Tulcea", "Petrom Ploiești", "Wisła Kraków"), not a person."""
        last = toks[-1].text
        return len(toks) >= 2 and not last.endswith(("'s", "’s")) and self._is_place(last) \
            and not self._is_place(toks[0].text) and not any(self._is_first(t, lang) for t in toks)

    def _brand_led(self, toks: Sequence[Token]) -> bool:
        """Does a maker or brand open the span ("Toyota Carina", "Harley-Davidson", "Hummels kreationer")?
        Not a listed first name ("Sonya"), and alone not a word the name lists hold as it is ("Ford")."""
        if self._brands is None:
            self._brands = StemIndex.build(self._lex.words.get("brands", "*"))
        first = toks[0]
        w = normalise(first.text)
        if w in self._lex.first_names.exact or first.text not in self._brands:
            return False
        return len(toks) > 1 or w not in self._lex.last_names.exact

    def _decoys(self, lang: str) -> StemIndex:
        if lang not in self._decoy_index:
            words = self._lex.words
            self._decoy_index[lang] = StemIndex.build(words.get("decoys", lang) | words.get("decoys", "en"))
        return self._decoy_index[lang]

    def _titled(self, before: Sequence[Token], lang: str) -> bool:
        """A title or role word right before ("Kanzlerin Merkel", "Ritter Lyvet"), not a preposition."""
        return bool(before) and before[-1].lower in self._lex.words.get("person_context_before", lang) \
            and before[-1].lower not in _WEAK_BEFORE

    def _determined(self, before: Sequence[Token], lang: str) -> bool:
        return self._article_before(before, lang) is not None

    def _article_before(self, before: Sequence[Token], lang: str) -> int | None:
        """How many words stand between the capitalised word and the article or possessive before it —
        in German inflected adjectives ("der gesamte Weichenkopf", "den roten Partisanen", "dem letzten
        Gruppenspiel"): a noun, not a name — or ``None`` when there is none. Not across words from a
        sentence-initial pronoun, where the word between is the verb ("Das bestätigte Schmidt")."""
        determiners = self._lex.words.get("determiners", lang)
        for k, tok in enumerate(reversed(before)):
            w = normalise(tok.text)
            if w in determiners:
                return k if k == 0 or not tok.initial else None
            if not (lang == "de" and tok.text.islower() and len(w) > 3 and w.endswith(_GERMAN_ADJECTIVE)):
                return None
        return None

    @staticmethod
    def _quoted(toks: list[Token], text: str) -> bool:
        s, e = toks[0].start, toks[-1].end
        return s > 0 and e < len(text) and text[s - 1] in _QUOTES and text[e] in _QUOTES


# prepositions and conjunctions: a weak hint only ("with", "for", "that" precede things too)
_WEAK_BEFORE = frozenset({
    "with", "for", "to", "from", "that", "about", "by", "whether", "dla", "z", "ze", "od", "do", "że", "czy",
    "o", "til", "med", "fra", "at", "om", "af", "pentru", "cu", "de", "la", "că", "dacă", "despre",
    "mit", "für", "von", "an", "dass", "ob", "über", "для", "с", "со", "от", "у", "к", "что", "ли", "о",
    "об", "про", "mellem", "zwischen", "между",
})


_LINKS = frozenset({"lui", "of", "de", "des", "der", "von", "имени"})
# "<Name> from sales", "Miłosz z działu", "Traudel aus dem Vertrieb", "Ion de la vânzări", "Олег из отдела"
_DEPARTMENT_LINKS = frozenset({"from", "of", "in", "z", "ze", "fra", "i", "på", "de", "din", "aus", "von", "vom",
                               "im", "из", "от"})
_VERB_ZIPF = 3.0
_SIGN_DASHES = ("-", "–", "—", "~")
_SIGN_TAIL = " \t\r\n.!)"  # what may follow a signature
# surnames built like compounds of frequent words
_GERMAN_SURNAME_ENDINGS = ("stein", "schmidt", "schmitt", "berger", "burger", "hofer", "huber", "bauer", "meier",
                           "maier", "mayer", "meyer", "müller", "schneider", "becker", "wagner", "richter")
_RUSSIAN_SURNAME = re.compile(r"[А-ЯЁ][а-яё]+(?:ский|цкий|ская|цкая|ов|ев|ёв|ин|ова|ева|ёва|ина)\Z")
_GERMAN_ADJECTIVE = ("e", "en", "er", "es", "em")  # the strong and weak adjective endings
# Polish inhabitants and nationals ("Sosnowiczanin", "Amerykanie", "Portorykańczyk", "Kanadyjczyk"); the
# "-czyk" of surnames (Kowalczyk) only after "-ań"/"-yj"/"-ij", which no common surname has
_POLISH_DEMONYM = ("anin", "anie", "anka", "ańczyk", "ańczycy", "yjczyk", "yjczycy", "ijczyk", "ijczycy")
# regular past-tense endings: "sent"-like irregulars come from person_context_after in lexicon.yaml
_PAST_TENSE = {"en": ("ed",), "pl": ("ł", "ła", "li", "ło"), "ru": ("ил", "ила", "ал", "ала", "ел", "ела", "ли"),
               "da": ("ede",), "de": ("te",), "ro": ()}
# Danish opens sentences with rare compounds before "er"/"har" ("Fondsbørsen har"): only reporting verbs
_AUXILIARY_AFTER_OK = frozenset({"en", "pl", "ru", "ro", "de"})
_RO_PARTICIPLE = ("at", "it", "ut", "ât", "às", "as", "is", "us", "os", "rs", "ns", "pt", "ct")
_REPORTING = {"da": frozenset({"sagde", "siger", "skrev", "skriver", "mener", "fortæller", "forklarer", "svarede"})}


def _infinitives(w: str, lang: str) -> list[str]:
    """Infinitives an imperative ``w`` may come from, by the language's regular patterns."""
    if lang == "da":
        return [w + "e"]  # bekræft → bekræfte, send → sende
    if lang == "de":
        return [w + "n", w + "en"]  # bestätige → bestätigen, schreib → schreiben
    if lang == "ru":
        stem = w[:-2] if w.endswith(("ите", "йте", "ьте")) else w[:-1] if w.endswith(("и", "й", "ь")) else ""
        return [stem + e for e in ("ить", "ать", "ять", "еть", "ти", "ть")] if stem else []
    if lang == "pl":
        cands = [w + e for e in ("ać", "ić", "yć", "eć")] + [w[:-1] + "ać"]  # napisz → napisać
        if w.endswith("uj"):
            cands.append(w[:-2] + "ować")  # przygotuj → przygotować
        if w.endswith(("j", "ź", "ś", "ć", "ń")):
            soft = {"ź": "zi", "ś": "si", "ć": "ci", "ń": "ni", "j": ""}[w[-1]]
            cands += [w[:-1] + soft + e for e in ("ć", "ać", "ić", "eć")]
        return cands
    if lang == "ro":
        if w.endswith("ează"):
            return [w[:-4] + "a"]  # notează → nota
        return [w[:-1] + "a"] if w.endswith("ă") else []  # confirmă → confirma
    return []


_AUXILIARIES = {"en": frozenset({"did", "does", "do", "has", "have", "had", "can", "could", "will", "would", "should",
                                  "is", "was", "may", "might", "shall"})}


def _inverted_question(before: list[Token], after: list[Token], lang: str) -> bool:
    """"Did Perpetua send…", "Has Okonkwo signed…": the word between an auxiliary opening a question
    and a lower-case verb is the question's subject."""
    aux = _AUXILIARIES.get(lang)
    return bool(aux and before and after and before[-1].initial and before[-1].lower in aux
                and after[0].text.islower())


def _acronym(before: list[Token], toks: list[Token], text: str) -> bool:
    """Do the span's leading one-letter abbreviations, with those glued before it, spell an acronym of
    three letters or more ("A.J.O.F.M.")? Initials have one or two ("J. Nowak", "J.R. Tolkien")."""
    run = [t for t in itertools.takewhile(lambda t: t.abbreviated, toks)]
    if not run:
        return False
    for t in reversed(before):
        if not (t.abbreviated and text[t.end:run[0].start] == "."):
            break
        run.insert(0, t)
    glued = sum(1 for a, b in itertools.pairwise(run) if text[a.end:b.start] == ".")
    return glued + 1 >= 3 and glued == len(run) - 1


def _compound_noun(toks: Sequence[Token]) -> bool:
    """A hyphenated word whose later part is written in lower case is a compound noun, not a
    double-barrelled name: "Carola-jakker", "EF-medlemmer", "Активисты-правозащитники"."""
    return any(any(len(part) >= 3 and part.isalpha() and part.islower() for part in t.text.split("-")[1:])
               for t in toks)


def _gap_ok(a: Token, b: Token) -> bool:
    return b.start - a.end <= 3


def _crosses_clause(gap: str) -> bool:
    return any(c in ",;:.!?()\n" for c in gap)


def find_persons(lexicon: Lexicon, text: str, language: str) -> list[Finding]:
    return PersonRecognizer(lexicon).analyze(text, language)
