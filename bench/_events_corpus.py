# ruff: noqa: RUF001 (Cyrillic letters are the point of this corpus)
"""A synthetic corpus of reports with known events, for bench/corroboration.py.

Nothing here is real: places are real towns, everything else is drawn from
a seeded random generator. What it imitates, per event:

* several witnesses (distinct sources) each writing in Ukrainian, Russian
  or English what they saw, in 3 to 5 of the dozen phrases the corpus has
  for that kind of event and language, in an order of their own — the
  facts (town, street, a count, a time of day, a number, a direction) are
  the event's and shared, the wording is not (translations sharing names
  and numbers, never one template for all). A dozen phrases per kind is
  far fewer than people use: unrelated events of one kind read more alike
  here than in life, which makes grouping harder, not easier;
* each its own time (minutes after the event; some none) and place (a few
  hundred metres off; some none, some coarsened by the field client's own
  grid to cells of 100 m to 10 km);
* photos, as values: a SHA-256 and a 64-bit difference hash per picture;
  a witness's own photo is unrelated to another's, a passed-on copy keeps
  the SHA-256 or, re-encoded, the dhash within 1 to 4 bits;
* copies: a source passing on an earlier report's words (and photo) as is
  or behind "Fwd:";
* web contacts (unverified), about one source in five;
* distractors: events of the same kind in the same town on another day,
  at the same hours in another town, or at the same hours a few km away;
  and words every report shares (the towns, "be careful", "saw it myself").

Planted events (``planted``): one origin pushed through several verified
sources (copies of the words, the same photo) or told several times, in
different words, by one member only. Their reports must never show two
independent sources.

Pure: the same ``(reports, seed, days)`` gives the same corpus.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from shoal.field._place import METRES_PER_DEGREE, place

LANGUAGES = ("uk", "ru", "en")
COMPARTMENT = "north"

#: (Ukrainian, Russian, English name, latitude, longitude)
TOWNS = (
    ("Харків", "Харьков", "Kharkiv", 49.99, 36.23),
    ("Херсон", "Херсон", "Kherson", 46.64, 32.61),
    ("Запоріжжя", "Запорожье", "Zaporizhzhia", 47.84, 35.14),
    ("Дніпро", "Днепр", "Dnipro", 48.46, 35.05),
    ("Миколаїв", "Николаев", "Mykolaiv", 46.97, 31.99),
    ("Одеса", "Одесса", "Odesa", 46.48, 30.72),
    ("Суми", "Сумы", "Sumy", 50.91, 34.80),
    ("Чернігів", "Чернигов", "Chernihiv", 51.49, 31.29),
    ("Полтава", "Полтава", "Poltava", 49.59, 34.55),
    ("Краматорськ", "Краматорск", "Kramatorsk", 48.72, 37.56),
    ("Слов'янськ", "Славянск", "Sloviansk", 48.85, 37.60),
    ("Ізюм", "Изюм", "Izium", 49.21, 37.25),
    ("Куп'янськ", "Купянск", "Kupiansk", 49.71, 37.62),
    ("Мелітополь", "Мелитополь", "Melitopol", 46.85, 35.37),
    ("Бердянськ", "Бердянск", "Berdiansk", 46.76, 36.79),
    ("Маріуполь", "Мариуполь", "Mariupol", 47.10, 37.55),
    ("Нікополь", "Никополь", "Nikopol", 47.57, 34.39),
    ("Кривий Ріг", "Кривой Рог", "Kryvyi Rih", 47.91, 33.39),
    ("Енергодар", "Энергодар", "Enerhodar", 47.50, 34.66),
    ("Покровськ", "Покровск", "Pokrovsk", 48.28, 37.18),
    ("Лозова", "Лозовая", "Lozova", 48.89, 36.32),
    ("Чугуїв", "Чугуев", "Chuhuiv", 49.84, 36.69),
    ("Вовчанськ", "Волчанск", "Vovchansk", 50.29, 36.94),
    ("Охтирка", "Ахтырка", "Okhtyrka", 50.31, 34.90),
    ("Конотоп", "Конотоп", "Konotop", 51.24, 33.20),
    ("Київ", "Киев", "Kyiv", 50.45, 30.52),
    ("Житомир", "Житомир", "Zhytomyr", 50.25, 28.66),
    ("Бровари", "Бровары", "Brovary", 50.51, 30.79),
    ("Ірпінь", "Ирпень", "Irpin", 50.52, 30.25),
    ("Бахмут", "Бахмут", "Bakhmut", 48.59, 38.00),
)
STREETS = (
    ("Сумська", "Сумская", "Sumska"),
    ("Шевченка", "Шевченко", "Shevchenka"),
    ("Героїв Праці", "Героев Труда", "Heroiv Pratsi"),
    ("Перемоги", "Победы", "Peremohy"),
    ("Соборна", "Соборная", "Soborna"),
    ("Миру", "Мира", "Myru"),
    ("Центральна", "Центральная", "Tsentralna"),
    ("Гагаріна", "Гагарина", "Haharina"),
    ("Промислова", "Промышленная", "Promyslova"),
    ("Залізнична", "Железнодорожная", "Zaliznychna"),
    ("Садова", "Садовая", "Sadova"),
    ("Київська", "Киевская", "Kyivska"),
)
DIRECTIONS = (
    ("північ", "север", "north"),
    ("південь", "юг", "south"),
    ("схід", "восток", "east"),
    ("захід", "запад", "west"),
)

#: kind -> language -> phrases a witness picks a few of (in an order of
#: their own). Slots: {town} {street} {n} {hhmm} {code} {dir}.
PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "convoy": {
        "uk": (
            "{town}",
            "{street}",
            "колона техніки",
            "{n} одиниць",
            "рухається на {dir}",
            "Близько {hhmm}",
            "Бачив колону з {n} машин на вулиці {street}",
            "о {hhmm}",
            "номер на першій {code}",
            "{hhmm} через {town} пройшла колона",
            "приблизно {n} вантажівок і БТР",
            "по {street} в бік {dir}",
        ),
        "ru": (
            "{town}",
            "{street}",
            "колонна техники",
            "{n} единиц",
            "движется на {dir}",
            "Около {hhmm}",
            "Видел колонну из {n} машин на улице {street}",
            "в {hhmm}",
            "номер на первой {code}",
            "В {hhmm} через {town} прошла колонна",
            "примерно {n} грузовиков и БТР",
            "по {street} в сторону {dir}",
        ),
        "en": (
            "{town}",
            "{street} St",
            "convoy of {n} vehicles heading {dir} around {hhmm}",
            "Saw a column of {n} trucks on {street} street in {town} at {hhmm}",
            "lead vehicle number {code}",
            "{hhmm}",
            "about {n} military vehicles incl",
            "APCs moved through {town} along {street} to the {dir}",
        ),
    },
    "shelling": {
        "uk": (
            "Обстріл",
            "{town}",
            "{hhmm}",
            "влучання біля вул",
            "{street}",
            "{n} вибухів",
            "прильоти по {street}",
            "нарахували {n}",
            "час {hhmm}",
            "Є пошкоджені будинки",
            "Чули {n} вибухів близько {hhmm} в районі вулиці {street}",
            "Горить склад",
        ),
        "ru": (
            "Обстрел",
            "{town}",
            "{hhmm}",
            "попадания возле ул",
            "{street}",
            "{n} взрывов",
            "прилёты по {street}",
            "насчитали {n}",
            "время {hhmm}",
            "Есть повреждённые дома",
            "Слышали {n} взрывов около {hhmm} в районе улицы {street}",
            "Горит склад",
        ),
        "en": (
            "Shelling in {town} at {hhmm}",
            "hits near {street} street",
            "{n} explosions",
            "{town}",
            "strikes on {street}",
            "counted {n}",
            "time {hhmm}",
            "Houses damaged",
            "Heard {n} blasts around {hhmm} near {street} st in {town}",
            "a warehouse is burning",
        ),
    },
    "drones": {
        "uk": (
            "Шахед пролетів над {town} о {hhmm}",
            "курс на {dir}",
            "низько над {street}",
            "{town}",
            "{hhmm}",
            "чути мопед",
            "{n} дронів",
            "один збили біля вулиці {street}",
            "Дрони над {town}",
            "{n} шт",
            "район {street}",
        ),
        "ru": (
            "Шахед пролетел над {town} в {hhmm}",
            "курс на {dir}",
            "низко над {street}",
            "{town}",
            "{hhmm}",
            "слышно мопед",
            "{n} дронов",
            "один сбили возле улицы {street}",
            "Дроны над {town}",
            "{n} шт",
            "район {street}",
        ),
        "en": (
            "Shahed drone over {town} at {hhmm}",
            "heading {dir}",
            "low over {street}",
            "{town}",
            "{hhmm}",
            "moped sound",
            "{n} drones",
            "one shot down near {street} street",
            "Drones over {town}",
            "{n} of them",
            "{street} area",
        ),
    },
    "checkpoint": {
        "uk": (
            "Новий блокпост на виїзді з {town}",
            "{street}",
            "{n} військових",
            "перевіряють телефони",
            "На {street}",
            "{town}",
            "з {hhmm} стоїть блокпост",
            "{n} людей",
            "БМП з номером {code}",
            "перекрили {street}",
            "чекпойнт",
            "перевірка документів",
            "близько {n} солдат",
        ),
        "ru": (
            "Новый блокпост на выезде из {town}",
            "{street}",
            "{n} военных",
            "проверяют телефоны",
            "На {street}",
            "{town}",
            "с {hhmm} стоит блокпост",
            "{n} человек",
            "БМП с номером {code}",
            "перекрыли {street}",
            "чекпоинт",
            "проверка документов",
            "около {n} солдат",
        ),
        "en": (
            "New checkpoint at the exit from {town}",
            "{street} st",
            "{n} soldiers checking phones",
            "Checkpoint on {street}",
            "{town}",
            "since {hhmm}",
            "{n} people",
            "IFV number {code}",
            "{street} is closed",
            "checkpoint",
            "document checks",
            "about {n} troops",
        ),
    },
    "depot": {
        "uk": (
            "Вибух і пожежа на складі біля {street}",
            "{town}",
            "{hhmm}",
            "видно дим",
            "горить нафтобаза за {street}",
            "детонація",
            "{n} гучних",
            "О {hhmm} в {town} сильний вибух",
            "стовп диму над {street}",
            "потім ще {n}",
        ),
        "ru": (
            "Взрыв и пожар на складе возле {street}",
            "{town}",
            "{hhmm}",
            "виден дым",
            "горит нефтебаза за {street}",
            "детонация",
            "{n} громких",
            "В {hhmm} в {town} сильный взрыв",
            "столб дыма над {street}",
            "потом ещё {n}",
        ),
        "en": (
            "Explosion and fire at a depot near {street}",
            "{town}",
            "{hhmm}",
            "smoke visible",
            "oil depot burning behind {street}",
            "detonations",
            "{n} loud ones",
            "At {hhmm} a big blast in {town}",
            "column of smoke over {street}",
            "then {n} more",
        ),
    },
    "outage": {
        "uk": (
            "{town}",
            "немає світла з {hhmm} на {street} і сусідніх вулицях",
            "Знеструмлення",
            "{street}",
            "пошкоджено підстанцію",
            "{n} будинків без світла",
            "Відключили воду і світло",
            "район {street}",
            "з {hhmm}",
        ),
        "ru": (
            "{town}",
            "нет света с {hhmm} на {street} и соседних улицах",
            "Обесточивание",
            "{street}",
            "повреждена подстанция",
            "{n} домов без света",
            "Отключили воду и свет",
            "район {street}",
            "с {hhmm}",
        ),
        "en": (
            "{town}",
            "no power since {hhmm} on {street} and nearby streets",
            "Blackout in {town}",
            "{street}",
            "substation hit",
            "{n} buildings without power",
            "Water and power cut",
            "{street} area",
            "since {hhmm}",
        ),
    },
    "aircraft": {
        "uk": (
            "{n} гелікоптери над {town} о {hhmm}",
            "летять на {dir}",
            "Вертольоти",
            "{n} шт",
            "низько над {street}",
            "{town}",
            "{hhmm}",
            "гул літаків",
            "{n} бортів на {dir}",
        ),
        "ru": (
            "{n} вертолёта над {town} в {hhmm}",
            "летят на {dir}",
            "Вертолёты",
            "{n} шт",
            "низко над {street}",
            "{town}",
            "{hhmm}",
            "гул самолётов",
            "{n} бортов на {dir}",
        ),
        "en": (
            "{n} helicopters over {town} at {hhmm}",
            "flying {dir}",
            "Helicopters",
            "{n} of them",
            "low over {street}",
            "{town}",
            "{hhmm}",
            "jets roaring",
            "{n} aircraft heading {dir}",
        ),
    },
    "stores": {
        "uk": (
            "У школі №{code} на {street}",
            "{town}",
            "склад боєприпасів",
            "завозять вночі",
            "в лікарні на {street} штаб",
            "{n} машин біля входу",
            "Біля {street}",
            "ховають техніку в ангарі",
            "{n} одиниць",
            "номер {code}",
        ),
        "ru": (
            "В школе №{code} на {street}",
            "{town}",
            "склад боеприпасов",
            "завозят ночью",
            "в больнице на {street} штаб",
            "{n} машин у входа",
            "Возле {street}",
            "прячут технику в ангаре",
            "{n} единиц",
            "номер {code}",
        ),
        "en": (
            "Ammunition stored in school No {code} on {street}",
            "{town}",
            "brought in at night",
            "a headquarters in the hospital on {street}",
            "{n} vehicles at the entrance",
            "Near {street}",
            "vehicles hidden in a hangar",
            "{n} of them",
            "number {code}",
        ),
    },
}
KINDS = tuple(PHRASES)
#: Words many reports share whatever they tell of.
CHATTER = {
    "uk": ("Всі живі.", "Будьте обережні.", "Тримаємось.", "Інфа точна.", "Уточню пізніше.",
           "Сам бачив.", "Фото є."),
    "ru": ("Все живы.", "Будьте осторожны.", "Держимся.", "Инфа точная.", "Уточню позже.",
           "Сам видел.", "Фото есть."),
    "en": ("Everyone is ok.", "Be careful.", "Holding on.", "Info is accurate.",
           "Will update later.", "Saw it myself.", "Have a photo."),
}  # fmt: skip
FORWARDED = {"uk": ("Переслано:", ""), "ru": ("Переслано:", ""), "en": ("Fwd:", "")}
#: A coarsening (metres; 0 exact) and how often senders choose it.
CELLS = ((0, 45), (100, 15), (500, 10), (1000, 15), (5000, 10), (10_000, 5))
#: Reports per real event and how often.
SIZES = ((1, 35), (2, 25), (3, 18), (4, 10), (5, 6), (6, 3), (7, 2), (8, 1))
#: Share of events that are planted (a single origin dressed as many).
PLANTED_SHARE = 0.03
WEB_CONTACT_SHARE = 0.2
#: 2026-01-01 00:00 UTC: the corpus's times are POSIX seconds from here on.
START = 1_767_225_600.0


@dataclass(frozen=True)
class Spec:
    """One generated report: what a ``corroborate.Report`` is built from,
    and the truth about it."""

    key: str
    source: str
    verified: bool
    time: float | None
    spot: tuple[float, float, int] | None
    text: str
    sha256: tuple[str, ...]
    dhash: tuple[int, ...]
    event: int
    language: str
    planted: bool


@dataclass(frozen=True)
class Corpus:
    specs: list[Spec]
    #: Source name -> reliability grade (A-F) or None (not graded).
    grades: dict[str, str | None]
    planted_events: frozenset[int]


@dataclass(frozen=True)
class _Event:
    number: int
    kind: str
    town: int
    street: int
    direction: int
    n: int
    code: int
    time: float
    lat: float
    lon: float


def generate(reports: int, seed: int, days: int = 365) -> Corpus:
    """``reports`` reports (shuffled: the order they arrive in)."""
    return _Maker(random.Random(seed), days).make(reports)


class _Maker:
    def __init__(self, rng: random.Random, days: int) -> None:
        self.rng = rng
        self.span_s = days * 86400.0
        self.specs: list[Spec] = []
        self.grades: dict[str, str | None] = {}
        self.planted: set[int] = set()
        self.events: list[_Event] = []
        self.made = 0

    def make(self, total: int) -> Corpus:
        rng = self.rng
        sources = max(10, total // 4)
        self.members = [f"m{i}" for i in range(sources)]
        for name in self.members:
            self.grades[name] = rng.choice(("A", "B", "C", "C", "D", "E", "F", None, None))
        while len(self.specs) < total:
            event = self._event(len(self.events))
            self.events.append(event)
            if rng.random() < PLANTED_SHARE:
                self.planted.add(event.number)
                self._planted(event)
            else:
                self._real(event)
        del self.specs[total:]
        rng.shuffle(self.specs)
        kept = {s.event for s in self.specs}
        return Corpus(self.specs, self.grades, frozenset(self.planted & kept))

    # -- events ---------------------------------------------------------------

    def _event(self, number: int) -> _Event:
        rng = self.rng
        town = rng.randrange(len(TOWNS))
        time = START + rng.uniform(0, self.span_s)
        if self.events and rng.random() < 0.25:
            # A distractor: near an earlier event in place, in time, or both.
            other = rng.choice(self.events)
            how = rng.choice(("another day", "another town", "a few km away"))
            if how != "another town":
                town = other.town
            if how != "another day":
                time = other.time + rng.uniform(-2, 2) * 3600
            else:
                time = other.time + rng.choice((-1, 1)) * rng.uniform(1, 20) * 86400
        _, _, _, lat, lon = TOWNS[town]
        lat, lon = _offset(lat, lon, rng.uniform(0, 8000), rng.uniform(0, 2 * math.pi))
        return _Event(
            number, rng.choice(KINDS), town, rng.randrange(len(STREETS)),
            rng.randrange(len(DIRECTIONS)), rng.randint(2, 40), rng.randint(10, 9999),
            time, lat, lon,
        )  # fmt: skip

    def _real(self, event: _Event) -> None:
        rng = self.rng
        size = _weighted(rng, SIZES)
        sources = rng.sample(self.members, size)
        made: list[Spec] = []
        for source in sources:
            verified = rng.random() >= WEB_CONTACT_SHARE
            if made and rng.random() < 0.2:
                made.append(self._copy(rng.choice(made), source, verified))
            else:
                photo = self._picture() if rng.random() < 0.2 else None
                made.append(self._witness(event, source, verified, photo))
        self.specs.extend(made)

    def _planted(self, event: _Event) -> None:
        """One origin made to look like several: pushed through verified
        sources as copies (words, a photo) or told again by one member."""
        rng = self.rng
        if rng.random() < 0.5:
            photo = self._picture() if rng.random() < 0.7 else None
            origin = self._witness(event, rng.choice(self.members), True, photo, planted=True)
            passers = rng.sample(self.members, rng.randint(2, 5))
            self.specs.append(origin)
            for source in passers:
                if photo and rng.random() < 0.5:
                    # The photo passed on with a few words of one's own.
                    language = rng.choice(LANGUAGES)
                    text = rng.choice(CHATTER[language])
                    self.specs.append(self._copy(origin, source, True, text=text, lang=language))
                else:
                    self.specs.append(self._copy(origin, source, True))
        else:
            member = rng.choice(self.members)
            for _ in range(rng.randint(2, 4)):
                self.specs.append(self._witness(event, member, True, None, planted=True))

    # -- reports --------------------------------------------------------------

    def _witness(
        self,
        event: _Event,
        source: str,
        verified: bool,
        photo: tuple[str, int] | None,
        *,
        planted: bool = False,
    ) -> Spec:
        rng = self.rng
        language = rng.choice(LANGUAGES)
        column = LANGUAGES.index(language)
        text = _phrase(rng, event.kind, language).format(
            town=TOWNS[event.town][column],
            street=STREETS[event.street][column],
            dir=DIRECTIONS[event.direction][column],
            n=event.n,
            code=event.code,
            hhmm=_hhmm(event.time),
        )
        if rng.random() < 0.4:
            text += " " + rng.choice(CHATTER[language])
        time = None if rng.random() < 0.1 else event.time + rng.expovariate(1 / 1200)
        spot = None
        if rng.random() >= 0.1:
            lat, lon = _offset(
                event.lat, event.lon, abs(rng.gauss(0, 400)), rng.uniform(0, 2 * math.pi)
            )
            seen = place(lat, lon, _weighted(rng, CELLS))
            spot = (seen.lat, seen.lon, seen.cell_m)
        return Spec(
            self._key(), source, verified, time,
            spot, text, (photo[0],) if photo else (), (photo[1],) if photo else (),
            event.number, language, planted,
        )  # fmt: skip

    def _copy(
        self,
        origin: Spec,
        source: str,
        verified: bool,
        *,
        text: str | None = None,
        lang: str | None = None,
    ) -> Spec:
        """``origin`` passed on by ``source``: its words (perhaps behind
        "Fwd:") or ``text``, its photo as is or re-encoded, a little later."""
        rng = self.rng
        if text is None:
            prefix = rng.choice(FORWARDED[origin.language])
            text = f"{prefix} {origin.text}".strip()
        sha256, dhash = origin.sha256, origin.dhash
        if dhash and rng.random() < 0.5:  # re-encoded: another file, a near picture
            sha256 = (_sha256(rng),)
            dhash = (_flip(rng, dhash[0], rng.randint(1, 4)),)
        time = None
        if origin.time is not None and rng.random() >= 0.1:
            time = origin.time + rng.uniform(300, 4 * 3600)
        spot = origin.spot if rng.random() < 0.7 else None
        return Spec(
            self._key(), source, verified, time,
            spot, text, sha256, dhash, origin.event, lang or origin.language, origin.planted,
        )  # fmt: skip

    def _key(self) -> str:
        self.made += 1
        return f"r{self.made}"

    def _picture(self) -> tuple[str, int]:
        return _sha256(self.rng), self.rng.getrandbits(64)


def _phrase(rng: random.Random, kind: str, language: str) -> str:
    """A witness's own wording: a few of the kind's phrases in this language,
    in an order of their own, always naming the town."""
    phrases = PHRASES[kind][language]
    chosen = rng.sample(phrases, rng.randint(3, min(5, len(phrases))))
    if not any("{town}" in p for p in chosen):
        chosen.insert(rng.randrange(len(chosen) + 1), "{town}")
    return rng.choice((", ", ". ", "; ", " — ")).join(chosen)


def _weighted(rng: random.Random, table: tuple[tuple[int, int], ...]) -> int:
    return rng.choices([v for v, _ in table], [w for _, w in table])[0]


def _offset(lat: float, lon: float, metres: float, bearing: float) -> tuple[float, float]:
    dlat = metres * math.cos(bearing) / METRES_PER_DEGREE
    dlon = metres * math.sin(bearing) / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def _hhmm(time: float) -> str:
    minutes = int(time // 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _sha256(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _flip(rng: random.Random, value: int, bits: int) -> int:
    for bit in rng.sample(range(64), bits):
        value ^= 1 << bit
    return value
