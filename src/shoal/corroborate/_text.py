# ruff: noqa: RUF001, RUF002, RUF003 (Cyrillic letters are the point of this module)
"""How alike two reports' words are, whatever language they were written in.

Reports about one event arrive in Ukrainian, Russian and English, typed
fast, with names spelt three ways (Харків, Харьков, Kharkiv). So words are
compared by their letters, not by a dictionary: each text is folded to
plain Latin letters (Cyrillic transliterated by one table that gives
Ukrainian and Russian spellings of a name the same letters, and English
spellings of the same name too: "kh", "х", "г" and "g" all become "h" —
Ukrainian г is English h (Luhansk), Russian г is g (Lugansk) — and "y",
"и", "і", "ї" and "ы" all "i"), cut into overlapping three-letter pieces inside
each word (shingles, so "Херсоні" and "Херсон" still share most of
theirs), and two texts are as alike as the share of pieces they have in
common (Jaccard). Numbers are kept whole: a time, a count or a vehicle
number is what two witnesses most often share.

The facts witnesses of one event agree on are read here too, for
:mod:`._grouping` to weigh: numbers and what each counts, times of day,
compass directions, streets and towns, the last four from tables of the
words the three languages name them with (folded as above).

Finding alike texts among 100,000 without comparing every pair uses a
sketch of each set (one-permutation MinHash, :func:`sketch`): one hash
per piece, kept as the least value in each of :data:`BINS` bins. Texts
whose sketches agree on every bin of one band of :data:`ROWS` bins are
candidates, compared exactly; a pair as alike as :data:`ALIKE` (0.75)
is found with probability 0.98, two texts half alike (as reports of one
kind are) with 0.27, and two unrelated ones (0.1) with 0.00002. Only
reports lacking a time or a place are grouped by words alone
(:mod:`._grouping`), so the sketch needs to find no less alike pairs; 20
bands of 6 measured twice as fast as 40 of 5 (bench/corroboration.py).
Textbook MinHash needs one hash per piece *per bin* (120 times the
work); one permutation needs one. Pure.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

#: Jaccard of pieces from which two texts are one text repeated: a copy,
#: a forward of a forward, a message pasted with a word changed.
COPY = 0.7
#: Share of the shorter text's pieces found in the longer from which it
#: is a copy passed on with words added ("Fwd:", "Переслано:", a comment).
CONTAINED = 0.9
#: Jaccard from which two texts with nothing else in common (no time or
#: place to compare) are taken to tell of one event.
ALIKE = 0.75
#: Jaccard from which two texts close in time and place are taken to tell
#: of one event if they also give a number in common (:func:`numbers`):
#: there time and place already speak, and the words need only share the
#: facts — which is all a Ukrainian and an English account share.
NEAR = 0.1
#: Jaccard from which two texts close in time and place tell of one
#: event with no number in common. Lower, and two events of the same hours
#: in one town (a fire, a convoy) merge on the town's name and the common
#: words of reports. Both measured on bench/corroboration.py.
NEAR_ALONE = 0.3
#: Jaccard from which two texts close in time and place tell of one event
#: when each gives facts (:mod:`._grouping`: numbers, directions, streets,
#: times of day) and not one of them in common: one says "30 of them
#: heading east", the other "at 20:30 over Peremohy St", and a planted
#: report beside a real one reads just so. Measured on
#: bench/corroboration.py (seed 13: planted events shown corroborated 3
#: at NEAR_ALONE, 0 here; recall 0.514, 0.510).
NEAR_APART = 0.5

BINS = 120
ROWS = 6
BANDS = BINS // ROWS

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "h", "д": "d", "е": "e", "є": "e",
    "ё": "e", "э": "e", "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "i", "ы": "i",
    "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "sch", "ь": "", "ъ": "", "ю": "iu", "я": "ia", "'": "", "ʼ": "", "’": "",
}  # fmt: skip
#: One table: Cyrillic to Latin, and combining marks (U+0300 to U+036F) dropped.
_TABLE = str.maketrans({**_CYRILLIC, **{chr(c): None for c in range(0x300, 0x370)}})
#: Latin spellings folded as the transliteration folds them.
_LATIN = (("kh", "h"), ("g", "h"), ("y", "i"), ("j", "i"), ("w", "v"), ("ck", "k"))
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """``text`` as plain lowercase Latin letters, digits and spaces."""
    # Decomposed first, so accents and the marks of "й", "ї", "ё" are
    # separate characters the table drops, leaving "и", "і", "е" to map.
    latin = unicodedata.normalize("NFKD", text.casefold()).translate(_TABLE)
    for spelt, folded in _LATIN:
        latin = latin.replace(spelt, folded)
    return " ".join(_WORD.findall(latin))


def pieces(text: str) -> frozenset[int]:
    """The text's shingles, each as a 32-bit hash: three-letter pieces of
    each word (with its edges), and each number whole; not those of the
    marks a messenger puts before a message passed on (:func:`own_words`)."""
    return word_pieces(own_words(text))


def word_pieces(words: Iterable[str]) -> frozenset[int]:
    """:func:`pieces` of words already folded (a report folds its text once)."""
    found: set[int] = set()
    for word in words:
        if word.isascii() and word.isdigit():
            found.add(zlib.crc32(b"#" + word.encode()))
            continue
        padded = f" {word} ".encode()
        found.update(map(zlib.crc32, [padded[i : i + 3] for i in range(len(padded) - 2)]))
    return frozenset(found)


#: A time of day: said by every report of the same hours, so it is no
#: fact that tells one event from another.
_CLOCK = re.compile(r"\b[0-9]{1,2}[:.][0-9]{2}\b")
_CLOCK_PARTS = re.compile(r"\b([0-9]{1,2})[:.]([0-9]{2})\b")
_NUMBER = re.compile(r"[0-9]+")


def numbers(text: str) -> frozenset[str]:
    """The numbers a text gives, times of day apart: counts, vehicle and
    unit numbers, house numbers. Witnesses of one event give the same ones
    in any language; two events at the same hours in one town rarely do.
    Single digits are kept: "6 soldiers" is not "26 soldiers"."""
    return frozenset(n.lstrip("0") or "0" for n in _NUMBER.findall(_CLOCK.sub(" ", text)))


#: The compass, folded (:func:`fold`): the words Ukrainian, Russian and
#: English reports name a direction with, and their common forms.
_COMPASS = {
    "n": """pivnich pivnochi pivnichnii pivnichna pivnichno sever severa severu severnii
            severo north northern northward northbound""",
    "s": """pivden pivdnia pivdennii pivdenna pivdenno iuh iuha iuhu iuzhnii iuho south
            southern southward southbound""",
    "e": """shid shodu shidnii shidna vostok vostoka vostoku vostochnii east eastern
            eastward eastbound""",
    "w": """zahid zahodu zahidnii zahidna zapad zapada zapadu zapadnii vest vestern
            vestvard vestbound""",
}
_BEARINGS = {word: bearing for bearing, words in _COMPASS.items() for word in words.split()}
#: What a count counts: the first letters of the words Ukrainian, Russian
#: and English reports count people, vehicles, drones, aircraft, missiles,
#: blasts and buildings with (folded by :func:`fold` below). "22 вибухи"
#: and "22 vehicles" share a number and no fact; witnesses of one convoy
#: call its vehicles "машин", "вантажівок" or "trucks", all vehicles.
#: Planes and helicopters are one kind ("борт" is either, and at night
#: one is not told from the other); a drone's moped drone is heard apart.
_COUNTED = {
    "people": """людей люди людин осіб чоловік человек військов военн солдат бійц бойц
                 окупант орк people person soldier troop fighter servicem""",
    "vehicles": """машин вантажів грузовик одиниц единиц техні танк бтр бмп автомоб авто
                   броне vehicle truck cars apc ifv""",
    "drones": """дрон шахед безпілот беспилот мопед герань drone uav""",
    "aircraft": """борт гелікоптер вертол літак самол helicopter aircraft plane jets""",
    "missiles": """ракет missile rocket""",
    "blasts": """вибух взрыв прильот приліт прилет влучан попадан удар гучн громк вистріл
                 постріл выстрел blast explosion strike hits boom bang loud shots""",
    "buildings": """будин будів дом хат здани building house homes""",
}  # fmt: skip
#: The street names most Ukrainian towns share, each as Ukrainian,
#: Russian and English reports write it: Russian often translates a name
#: ("Героїв Праці", "Героев Труда") where letters cannot match it. Each
#: spelling is folded (:func:`fold`); one of five letters or more names
#: the street as the first letters of a word ("Сумськ" for "Сумська",
#: "Сумской", "Sumska"), a shorter one, or one ending in "=", only as a
#: whole word ("Миру"; "Праці=", or "працює" would be a street).
#: Streets not listed are no fact: a desk's own town list would extend it.
_STREETS = {
    "shevchenka": "Шевченк Shevchenk",
    "soborna": "Соборн Sobornaia Soborna",
    "tsentralna": "Центральн Tsentraln",
    "myru": "Миру Мира Myru Mira",
    "peremohy": "Перемоги Победы= Peremohy",
    "sadova": "Садов Sadov",
    "haharina": "Гагарін Гагарин Haharin Gagarin",
    "kyivska": "Київськ Киевск Kyivsk Kievsk",
    "sumska": "Сумськ Сумск Sumsk",
    "heroiv pratsi": "Праці= Труда= Pratsi=",
    "promyslova": "Промислов Промышленн Promyslov Promyshlenn",
    "zaliznychna": "Залізничн Железнодорожн Zaliznychn Zheleznodorozhn",
    "nezalezhnosti": "Незалежност Независимост Nezalezhnost Nezavisimost",
    "hrushevskoho": "Грушевськ Грушевск Hrushevsk",
    "franka": "Франка Франко Franka Franko",
    "lesi ukrainky": "Українки Украинки Ukrainky",
    "khmelnytskoho": "Хмельницьк Хмельницк Khmelnytsk",
    "lisova": "Лісов Лесна Лесно Lisov Lesna",
    "naberezhna": "Набережн Naberezhn",
    "vokzalna": "Вокзальн Vokzaln",
    "shkilna": "Шкільн Школьн Shkiln Shkoln",
    "molodizhna": "Молодіжн Молодежн Molodizhn Molodezhn",
    "stepova": "Степов Степн Stepov Stepn",
    "kozatska": "Козацьк Казачь Kozatsk Kazach",
    "zavodska": "Заводськ Заводск Zavodsk",
    "hoholia": "Гоголя Gogolia Gogolya Hoholia",
    "chornovola": "Чорновол Черновол Chornovol",
    "kotsiubynskoho": "Коцюбинськ Коцюбинск Kotsiubynsk",
    "pushkina": "Пушкін Пушкин Pushkin",
}
#: Towns, each as Ukrainian, Russian and English reports write it and its
#: cases ("Харків", "Харкові", "Харьков", "Kharkiv"): the only place a
#: report without coordinates gives, and two towns are two events. As in
#: :data:`_STREETS`, a spelling of five letters or more is the first
#: letters of a word, a shorter one a whole word; a word going on with
#: "sk" is a street or a region named after a town ("Харківська",
#: "Полтавская"), not the town.
_TOWNS = {
    "kharkiv": "Харків Харко Kharkiv",
    "kherson": "Херсон Kherson",
    "zaporizhzhia": "Запоріжж Запорож Zaporizhzh",
    "dnipro": "Дніпр Днепр Dnipr",
    "mykolaiv": "Миколаїв Миколаєв Николаев Mykolaiv",
    "odesa": "Одеса Одесі Одесу Одесою Одесса Одессе Одессу",
    "sumy": "Суми Сумах Сумам Сумы Sumy",
    "chernihiv": "Чернігів Черніго Чернигов Chernihiv",
    "poltava": "Полтав Poltav",
    "kramatorsk": "Краматорськ Краматорск Kramatorsk",
    "sloviansk": "Слов'янськ Славянск Sloviansk",
    "izium": "Ізюм Изюм Izium",
    "kupiansk": "Куп'янськ Купянск Kupiansk",
    "melitopol": "Мелітопол Мелитопол Melitopol",
    "berdiansk": "Бердянськ Бердянск Berdiansk",
    "mariupol": "Маріупол Мариупол Mariupol",
    "nikopol": "Нікопол Никопол Nikopol",
    "kryvyi rih": "Криви Криво Kryvy",
    "enerhodar": "Енергодар Энергодар Enerhodar",
    "pokrovsk": "Покровськ Покровск Pokrovsk",
    "lozova": "Лозов Lozov",
    "chuhuiv": "Чугуїв Чугуєв Чугуев Chuhuiv",
    "vovchansk": "Вовчанськ Волчанск Vovchansk",
    "okhtyrka": "Охтирк Ахтырк Okhtyrk",
    "konotop": "Конотоп Konotop",
    "kyiv": "Київ Києва Києві Києву Kyiv Kiev Киев Киева Киеве Киеву",
    "zhytomyr": "Житомир Zhytomyr",
    "brovary": "Бровар Brovar",
    "irpin": "Ірпін Ірпен Ирпен Irpin",
    "bakhmut": "Бахмут Bakhmut",
    "lviv": "Львів Львова Львові Львов Львове Lviv",
    "vinnytsia": "Вінниц Винниц Vinnyts",
    "rivne": "Рівне Рівному Ровно Rivne",
    "lutsk": "Луцьк Луцк Lutsk",
    "ternopil": "Тернопіл Тернопол Ternopil",
    "uzhhorod": "Ужгород Uzhhorod",
    "chernivtsi": "Чернівц Черновц Chernivts",
    "cherkasy": "Черкас Cherkas",
    "kropyvnytskyi": "Кропивниц Kropyvnyts",
    "donetsk": "Донецьк Донецк Donetsk",
    "luhansk": "Луганськ Луганск Luhansk",
    "sievierodonetsk": "Сєвєродонецьк Северодонецк Sievierodonetsk",
    "lysychansk": "Лисичанськ Лисичанск Lysychansk",
    "kostiantynivka": "Костянтинівк Константиновк Kostiantynivk",
    "avdiivka": "Авдіївк Авдеевк Avdiivk",
    "toretsk": "Торецьк Торецк Toretsk",
    "orikhiv": "Оріхів Оріхов Орехов Orikhiv",
    "tokmak": "Токмак Tokmak",
    "kakhovka": "Каховк Kakhovk",
    "izmail": "Ізмаїл Измаил Izmail",
    "ochakiv": "Очаків Очаков Ochakiv",
}
#: Words a messenger puts before a message passed on, folded: "Fwd:",
#: "Forwarded message", "Переслано:", "Пересланное сообщение",
#: "Переслане повідомлення".
_PASSED_ON = frozenset(
    ("fvd", "fv", "forvarded", "forvard", "messahe", "pereslano", "pereslannoe", "soobschenie",
     "pereslane", "povidomlennia")
)  # fmt: skip


def own_words(text: str) -> list[str]:
    """The folded words of ``text`` without the marks a messenger puts
    before a message passed on: two forwards of different messages share
    "Переслано" and nothing of what happened."""
    words = fold(text).split()
    start = 0
    while start < len(words) and words[start] in _PASSED_ON:
        start += 1
    return words[start:]


class _Stems:
    """Words known by their first letters, folded: a stem of ``shortest``
    letters or more names every word it begins ("вибух" "вибухи",
    "вибухів") unless ``not_before`` is in the next four letters; a
    shorter spelling, or one written with a final "=", names only itself.
    Two dictionary lookups a word, whatever the number of stems: every
    word of 100,000 reports is looked up."""

    def __init__(self, table: dict[str, str], shortest: int, *, not_before: str = "") -> None:
        self._shortest = shortest
        self._not_before = not_before
        self._exact: dict[str, str] = {}
        self._starting: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for name, spellings in table.items():
            for spelt in spellings.split():
                stem = fold(spelt)
                if len(stem) < shortest or spelt.endswith("="):
                    self._exact[stem] = name
                else:
                    self._starting[stem[:shortest]].append((stem, name))
        for stems in self._starting.values():
            stems.sort(key=lambda stem: -len(stem[0]))

    def find(self, word: str) -> str | None:
        """The name ``word`` is a form of, or None."""
        name = self._exact.get(word)
        if name is not None:
            return name
        for stem, name in self._starting.get(word[: self._shortest], ()):
            if word.startswith(stem):
                if self._not_before and self._not_before in word[len(stem) : len(stem) + 4]:
                    return None
                return name
        return None

    def named(self, words: Iterable[str]) -> frozenset[str]:
        """The names the words are forms of."""
        # Most words are none: sifted here, without a call each.
        exact, starting, shortest = self._exact, self._starting, self._shortest
        maybe = [w for w in words if w in exact or w[:shortest] in starting]
        return frozenset(name for name in map(self.find, maybe) if name is not None)


_COUNTS = _Stems(_COUNTED, 3)


def counts(words: Sequence[str]) -> frozenset[tuple[str, str]]:
    """Each number folded words give, with the kind of thing it counts:
    ("22", "blasts") for "22 вибухи" or "22 loud blasts" (a word of
    :data:`_COUNTED` among the next two). A number with none beside it
    ("22 of them", "23 шт", a vehicle's number) counts what the text
    speaks of: each kind its words name ("vehicles hidden in a hangar").
    In a text that names none, it counts nothing known and agrees with
    any count (:func:`._grouping.agree`). The minutes of "18:44" (folded
    "18 44") are no count, as in :func:`numbers`."""
    numbered = [at for at, word in enumerate(words) if word.isdigit() and word.isascii()]
    if not numbered:
        return frozenset()
    found = set()
    loose = []
    clock = _clock_words(words, numbered)
    for at in numbered:
        if at in clock:
            continue
        kind = None
        for after in words[at + 1 : at + 3]:
            if after.isdigit():
                break
            kind = _COUNTS.find(after)
            if kind is not None:
                break
        number = words[at].lstrip("0") or "0"
        if kind is None:
            loose.append(number)
        else:
            found.add((number, kind))
    if loose:
        named = _COUNTS.named(words)
        found.update((number, kind) for number in loose for kind in named)
    return frozenset(found)


def _clock_words(words: Sequence[str], numbered: list[int]) -> set[int]:
    """Which of the ``numbered`` words are the hours and minutes of times
    of day ("18:44" folds to "18 44"), from the left: in "08 15 39
    aircraft" 39 is a count."""
    found: set[int] = set()
    numbers = set(numbered)
    for at in numbered:
        if at in found or at + 1 not in numbers:
            continue
        if len(words[at]) <= 2 and len(words[at + 1]) == 2:
            found.update((at, at + 1))
    return found


_STREET_NAMES = _Stems(_STREETS, 5)


def streets(words: Iterable[str]) -> frozenset[str]:
    """The streets of :data:`_STREETS` folded words name ("sumska" for
    "вулиця Сумська", "на Сумской" and "Sumska St"): two events of one
    kind in one town that hour are most often on two streets."""
    return _STREET_NAMES.named(words)


_TOWN_NAMES = _Stems(_TOWNS, 5, not_before="sk")


def towns(words: Iterable[str]) -> frozenset[str]:
    """The towns of :data:`_TOWNS` folded words name ("kharkiv" for
    "у Харкові", "в Харькове" and "Kharkiv")."""
    return _TOWN_NAMES.named(words)


def bearings(words: Iterable[str]) -> frozenset[str]:
    """The compass directions folded words name ("n", "s", "e", "w"):
    witnesses of one convoy see it head one way; "to the north" and
    "на південь" are two convoys."""
    return frozenset(_BEARINGS[w] for w in words if w in _BEARINGS)


def clock(text: str) -> frozenset[int]:
    """The times of day a text gives ("14:12", "3.40"), in minutes after
    midnight: a report with no time of its own often says one in words."""
    found = set()
    for hours, minutes in _CLOCK_PARTS.findall(text):
        if int(hours) < 24 and int(minutes) < 60:
            found.add(int(hours) * 60 + int(minutes))
    return frozenset(found)


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def contained(a: frozenset[int], b: frozenset[int]) -> float:
    """The share of the smaller set's pieces that are in the other."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def sketch(shingles: Iterable[int]) -> tuple[int, ...]:
    """The one-permutation MinHash of a set of pieces: the least hash in
    each of BINS bins, with each empty bin borrowing from the next full one
    (densification, so that two short texts do not agree on emptiness).
    Empty for an empty set."""
    # The hash is mixed first: crc32's low bits alone would sort pieces
    # into bins by their last letters. Walked from the largest down, so
    # the least value of each bin is the one the dictionary keeps.
    mixed = sorted(((h * 0x9E3779B1) & 0xFFFFFFFF for h in shingles), reverse=True)
    if not mixed:
        return ()
    kept = {m % BINS: m // BINS for m in mixed}
    least = [kept.get(b) for b in range(BINS)]
    if len(kept) == BINS:
        return tuple(value * 64 for value in least)  # type: ignore[operator]
    out = [0] * BINS
    # Walked backwards once round from a full bin, so each empty bin meets
    # the next full one (and how far it is, which keeps borrowed values apart).
    start = max(kept)
    borrowed, step = kept[start], 0
    for b in range(start - 1, start - 1 - BINS, -1):
        held = least[b]
        if held is not None:
            borrowed, step = held, 0
        else:
            step += 1
        out[b] = borrowed * 64 + step
    return tuple(out)


def bands(signature: tuple[int, ...]) -> list[int]:
    """The LSH keys of a sketch: one hash per band of its values.

    A band's rows are bins far apart (every BANDS-th): a short text leaves
    most bins empty, and neighbouring bins then borrow one value, so a band
    of neighbours would be one value, not ROWS. (A tuple of ints hashes the
    same in every process.)"""
    return [hash((b, *signature[b::BANDS])) for b in range(BANDS)] if signature else []
