"""A wrong codename and a cut one are answered alike, and in the same time.

Cutting ties with a contact sets ``accepted = False`` on their row; the row
stays. If a login with a cut codename were answered differently from a
login with a codename that never existed - another status, another word,
or measurably more (or less) time - then whoever holds a codename (a
seized phone, a note found in a pocket) could learn that it was once real:
that its owner was in contact. So both must look like "no such codename"
from outside, to the byte and to the clock.

The same holds for a real codename mistyped (issue #12, item 5): one word
replaced by another word of the list (well-formed, one edit from a real
codename), or one letter typed wrong so that a word is in no list. The
server must answer both exactly like a codename that never existed, in the
same time: it must not reject a malformed shape early (less work), try to
correct it (more work), or do anything that depends on how close a
codename is to a real one.

Everything here runs against a real ``shoal serve`` process over real HTTP
(httpx), as an attacker would see it: client-side wall time per request.
The time comparison is statistical (``compare_timings``), and three tests
show that it can fail: on synthetic samples with a planted delay, and on
the real server with a path that really does more work (a right codename)
and one that does less (a door that does not exist).

What "the same time" means here: no difference larger than ``MIN_EFFECT``
(5%) of a login, about 150 us on a 2-core machine where a login takes
about 3 ms. Checked by hand once with a copy of ``login`` that busy-waited for
cut contacts only, in a real server: 200 us of planted delay failed the
time test (ratio 1.06, p = 4e-6), 100 us did not (ratio 1.04) - below the
resolution, by design. The difference actually measured between wrong and
cut (the cut row is found and loaded, the wrong one is not) is about 1%,
and not significant at 400 pairs.

The mistyped comparisons, checked by hand once each with a planted server
(a copy of ``src`` put first on ``PYTHONPATH``): rejecting codenames with a
word not in the list before deriving and looking up (a cached set) failed
the letter-typo comparison (ratio 0.82, p = 2e-8); a second index lookup
for codenames one word away from one issued by that process (a "did you
mean" probe) failed both (ratio 1.17, p = 5e-5). Both on this 2-core
machine shared with other test runs (load average about 8). Under heavier
load (average 11, logins taking 6-12 ms with a 5-fold spread) an early
rejection that saved only the lookup (ratio 0.87-0.90) was not flagged
(p = 0.004-0.02): the resolution is a property of the machine, and the
numbers above are its resolution here at 400 samples.
"""

from __future__ import annotations

import gc
import math
import random
import re
import statistics
import string
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from _server_kit import OrgKit, ServerProcess, Stored, new_org
from sqlalchemy import update

import _engines
from shoal import crypto
from shoal.server._admin import import_notes, init_data_dir
from shoal.store import schema

DOOR = "north"
PAGE_LOGIN = f"/d/{DOOR}/login"
CUT_CONTACTS = 6

# The decision rule, both conditions together (see compare_timings).
ALPHA = 0.001  # two-sided p-value of the Mann-Whitney U test
MIN_EFFECT = 0.05  # the medians differ by more than 5%
TRIM = 0.05  # the slowest 5% of each sample are dropped first

# A few hundred interleaved pairs: about 1-3 ms a login here, so a few
# seconds of measuring; warm-up requests are sent and thrown away first.
PAIRS = 400
WARM_UP = 60


# --- the statistic --------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Two timing samples compared: medians (ns, after trimming), their
    ratio ``b / a``, and the two-sided p-value of the Mann-Whitney U test."""

    median_a: float
    median_b: float
    ratio: float
    p_value: float

    @property
    def differs(self) -> bool:
        """Both significant and large: see :func:`compare_timings`."""
        effect = max(self.ratio, 1 / self.ratio) - 1
        return self.p_value < ALPHA and effect > MIN_EFFECT

    def __str__(self) -> str:
        return (
            f"medians {self.median_a / 1e3:.0f} us vs {self.median_b / 1e3:.0f} us, "
            f"ratio {self.ratio:.3f}, p = {self.p_value:.3g}"
        )


def trimmed(sample: Sequence[float], fraction: float = TRIM) -> list[float]:
    """``sample`` sorted, without its slowest ``fraction`` (rounded up)."""
    ordered = sorted(sample)
    return ordered[: len(ordered) - math.ceil(len(ordered) * fraction)]


def compare_timings(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Compare two samples of request times; ``.differs`` is the verdict.

    Why this statistic:

    - Request latencies are skewed with a long right tail (the scheduler,
      GC pauses, another process on a 2-core machine), so a t-test on means
      is ruled by a few outliers. The Mann-Whitney U test uses only ranks:
      it asks whether a time drawn from ``b`` tends to be larger than one
      drawn from ``a``, which is exactly what a timing attacker exploits,
      and it needs no distribution and no dependency (scipy is not one).
      With hundreds of samples the normal approximation of U is accurate;
      ties get the usual variance correction and average ranks.
    - The slowest ``TRIM`` of each sample are dropped first: those are the
      pauses that belong to the machine, not to the code path.
    - A p-value alone flags any systematic difference given enough samples,
      however small, and a busy machine drifts; the ratio of medians says
      how large the difference is. Only both together - p < ``ALPHA`` and
      medians more than ``MIN_EFFECT`` apart - count as "differs", so that
      noise does not fail a test spuriously while a real extra step (a
      database write, a key derivation) does.
    """
    a, b = trimmed(a), trimmed(b)
    n_a, n_b = len(a), len(b)
    n = n_a + n_b
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    rank_sum_a = 0.0
    tie_term = 0.0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        ties = j - i + 1
        average_rank = (i + j) / 2 + 1  # ranks start at 1
        rank_sum_a += average_rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        tie_term += ties**3 - ties
        i = j + 1
    u_a = rank_sum_a - n_a * (n_a + 1) / 2
    mean = n_a * n_b / 2
    variance = n_a * n_b / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        p_value = 1.0  # every time equal: nothing tells the samples apart
    else:
        # Continuity correction: half a step of U towards the mean.
        z = max(abs(u_a - mean) - 0.5, 0) / math.sqrt(variance)
        p_value = math.erfc(z / math.sqrt(2))
    median_a, median_b = statistics.median(a), statistics.median(b)
    return Comparison(median_a, median_b, median_b / median_a, p_value)


# --- a real server with contacts, some of them cut ------------------------


@dataclass
class Contacts:
    cut: list[str]  # codenames whose rows have accepted = False
    live: str  # a codename still accepted


@pytest.fixture(scope="module")
def kit() -> OrgKit:
    made = new_org()
    made.add_compartment(DOOR)
    return made


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, kit: OrgKit) -> Path:
    root = tmp_path_factory.mktemp("timing")
    directory = root / "data"
    init_data_dir(directory, kit.root_key, _engines.database_url())
    import_notes(directory, kit.write_notes(root / "notes"), datetime.now(UTC))
    return directory


@pytest.fixture(scope="module")
def server(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(data, tmp_path_factory.mktemp("serve"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    # One persistent client: every request reuses the same kept-alive
    # connection, so connection setup is not part of any measured time.
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def contacts(client: httpx.Client, data: Path, kit: OrgKit) -> Contacts:
    """Contacts made through the API, then some of them cut in the database
    (as the desk's "cut ties" does: the row stays, ``accepted`` goes False)."""
    made = []
    for _ in range(CUT_CONTACTS + 1):
        answer = client.post(f"/api/v1/doors/{DOOR}/contacts")
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["codename"])
    *cut, live = made
    organization = kit.organization
    lookup_ids = [
        crypto.derive_contact_keys(c, organization.salt, organization.key_type).lookup_id
        for c in cut
    ]
    stored = Stored(data)
    try:
        with stored.session() as db:
            done = db.execute(
                update(schema.Contact)
                .where(schema.Contact.lookup_id.in_(lookup_ids))
                .values(accepted=False)
            )
            db.commit()
            assert done.rowcount == CUT_CONTACTS
    finally:
        stored.close()
    # The rows are still there: the server finds them, and refuses them.
    for codename in cut:
        assert login(client, codename).status_code == 401
    assert login(client, live).status_code == 201
    return Contacts(cut, live)


def login(client: httpx.Client, codename: str, door: str = DOOR) -> httpx.Response:
    return client.post(f"/api/v1/doors/{door}/sessions", json={"codename": codename})


def wrong_codenames(count: int) -> list[str]:
    """Fresh codenames from the same word list, never issued here (90 bits)."""
    return [crypto.generate_codename() for _ in range(count)]


def word_replaced(codenames: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """``count`` real codenames mistyped as another well-formed one: one word
    replaced by another word of the list (7 words of the list still, one
    edit from a real codename)."""
    words = crypto.wordlist()
    made = []
    for i in range(count):
        typed = codenames[i % len(codenames)].split()
        at = rng.randrange(len(typed))
        was = typed[at]
        while typed[at] == was:
            typed[at] = rng.choice(words)
        made.append(" ".join(typed))
    return made


def letter_typod(codenames: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """``count`` real codenames with one letter of one word typed wrong, so
    that the word is in no list: not a codename's shape at all, the
    mistake a server could be tempted to reject early (or to correct)."""
    made = []
    while len(made) < count:
        typed = list(codenames[len(made) % len(codenames)])
        at = rng.choice([i for i, c in enumerate(typed) if c.isalpha()])
        typed[at] = rng.choice([c for c in string.ascii_lowercase if c != typed[at]])
        mistyped = "".join(typed)
        if not crypto.is_codename_shaped(mistyped):  # not another word by chance
            made.append(mistyped)
    return made


Answer = tuple[int, tuple[tuple[str, str], ...], bytes]


def answer_of(response: httpx.Response) -> Answer:
    """Everything a client sees, but the Date header (it is the clock's)."""
    headers = tuple((k, v) for k, v in response.headers.multi_items() if k.lower() != "date")
    return response.status_code, headers, response.content


# --- 1. the same answer ---------------------------------------------------


def test_wrong_cut_and_malformed_codenames_get_the_same_json_answer(
    client: httpx.Client, contacts: Contacts
) -> None:
    wrong = [answer_of(login(client, c)) for c in wrong_codenames(40)]
    cut = [answer_of(login(client, c)) for c in contacts.cut]
    # A cut codename however it is typed: the server normalizes before lookup.
    retyped = [answer_of(login(client, "  " + c.upper().replace(" ", "  "))) for c in contacts.cut]
    real = [contacts.live, *contacts.cut]
    mistyped = [
        answer_of(login(client, c))
        for c in word_replaced(real, 14, random.Random(2))
        + letter_typod(real, 14, random.Random(3))
    ]
    malformed = [
        answer_of(login(client, c))
        for c in (
            "alpha beta gamma",
            " ".join(crypto.generate_codename().split()[:6]),
            crypto.generate_codename() + " extra",
            crypto.generate_codename(words=12),
            "".join(random.Random(1).choices(string.printable, k=64)),
            "Пароль ünïcode 密码",
            "",
            contacts.cut[0].replace(" ", ""),
        )
    ]
    everything = {*wrong, *cut, *retyped, *mistyped, *malformed}
    assert len(everything) == 1, everything
    ((status, _, body),) = everything
    assert status == 401
    assert set(httpx.Response(401, content=body).json()) == {"error"}


def test_wrong_cut_and_malformed_codenames_get_the_same_login_page(
    client: httpx.Client, contacts: Contacts
) -> None:
    form = client.get(PAGE_LOGIN)
    assert form.status_code == 200
    found = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert found
    token = found.group(1)
    assert client.cookies["shoal_form"] == token

    def post(codename: str) -> Answer:
        response = client.post(
            PAGE_LOGIN,
            data={"form_token": token, "codename": codename},
            headers={"Sec-Fetch-Site": "same-origin"},
            follow_redirects=False,
        )
        status, headers, body = answer_of(response)
        # The form token is per browser, not per answer: mask it, then the
        # rest must be identical (it is the same value here anyway).
        body = body.replace(token.encode(), b"<form token>")
        headers = tuple((k, v) for k, v in headers if k.lower() != "content-length")
        return status, headers, body

    wrong = {post(c) for c in wrong_codenames(20)}
    cut = {post(c) for c in contacts.cut}
    real = [contacts.live, *contacts.cut]
    rng = random.Random(4)
    mistyped = {post(c) for c in word_replaced(real, 4, rng) + letter_typod(real, 4, rng)}
    malformed = {post(c) for c in ("alpha beta gamma", "", "x" * 200, "a b c d e f g h")}
    everything = wrong | cut | mistyped | malformed
    assert len(everything) == 1, everything
    ((status, _, body),) = everything
    assert status == 401 and b"<form token>" in body


# --- 2. the same time ------------------------------------------------------


def interleaved(
    senders: Sequence[Callable[[int], httpx.Response]],
    rounds: int,
    rng: random.Random,
) -> tuple[list[list[int]], list[httpx.Response]]:
    """Wall times (ns) of ``rounds`` requests of each kind: one of each kind
    per round, in a random order within the round, so that drift in the
    machine's load (and any order effect, such as a warm cache after another
    request) falls on every sample alike."""
    times: list[list[int]] = [[] for _ in senders]
    answers = []
    # The client's own garbage collection would add pauses to whichever
    # request it happened to interrupt.
    gc.collect()
    gc.disable()
    try:
        for i in range(rounds):
            order = list(range(len(senders)))
            rng.shuffle(order)
            for kind in order:
                start = time.perf_counter_ns()
                answer = senders[kind](i)
                elapsed = time.perf_counter_ns() - start
                times[kind].append(elapsed)
                answers.append(answer)
    finally:
        gc.enable()
    return times, answers


def timed_logins(
    client: httpx.Client, kinds: Sequence[tuple[Sequence[str], str]], rounds: int
) -> tuple[list[list[int]], list[httpx.Response]]:
    """Warm up, then time ``rounds`` logins of each kind interleaved; a kind
    is a list of codenames (cycled) and the door they are sent to."""
    rng = random.Random(2024)

    def sender(codenames: Sequence[str], door: str) -> Callable[[int], httpx.Response]:
        return lambda i: login(client, codenames[i % len(codenames)], door)

    senders = [sender(codenames, door) for codenames, door in kinds]
    # Warm-up, thrown away: first requests pay for lazy imports, caches and
    # pools in the server and the client.
    interleaved(senders, WARM_UP // len(kinds), rng)
    return interleaved(senders, rounds, rng)


def measure_logins(
    client: httpx.Client,
    codenames_a: Sequence[str],
    codenames_b: Sequence[str],
    pairs: int,
    door_b: str = DOOR,
) -> tuple[Comparison, list[httpx.Response]]:
    """Time ``pairs`` logins of each list interleaved, and compare; the B
    logins go to ``door_b``."""
    (a, b), answers = timed_logins(client, [(codenames_a, DOOR), (codenames_b, door_b)], pairs)
    return compare_timings(a, b), answers


@pytest.mark.timeout(120)
def test_wrong_and_cut_codenames_take_the_same_time(
    client: httpx.Client, contacts: Contacts
) -> None:
    # Fresh wrong codenames, so none is ever cached; the few cut ones are
    # reused, as an attacker retrying one codename would.
    wrong = wrong_codenames(PAIRS + WARM_UP)
    comparison, answers = measure_logins(client, wrong, contacts.cut, PAIRS)
    print(f"\nwrong vs cut: {comparison}")
    # Checked after timing: every measured request was the same refusal.
    assert {answer_of(a) for a in answers} == {answer_of(answers[0])}
    assert answers[0].status_code == 401
    assert not comparison.differs, f"wrong and cut codenames are told apart: {comparison}"


@pytest.mark.timeout(120)
def test_mistyped_real_codenames_take_the_time_of_a_wrong_one(
    client: httpx.Client, contacts: Contacts
) -> None:
    """A real codename (the live contact's, or a cut one's) typed with one
    word replaced by another of the list, or with one letter wrong, must
    take the time of a codename never issued: the server must neither
    reject a shape early (less work) nor try to correct it (more), and
    nothing may depend on how close the codename is to a real one. The
    three kinds are interleaved, so the wrong sample is shared; each kind
    has ``PAIRS`` samples, the count the planted-delay test above is run
    at (its power is this comparison's power)."""
    rng = random.Random(12)
    count = PAIRS + WARM_UP
    real = [contacts.live, *contacts.cut]
    kinds = {
        "wrong": wrong_codenames(count),
        "one word replaced": word_replaced(real, count, rng),
        "one letter typo'd": letter_typod(real, count, rng),
    }
    times, answers = timed_logins(client, [(names, DOOR) for names in kinds.values()], PAIRS)
    # Every measured request was the same refusal.
    assert {answer_of(a) for a in answers} == {answer_of(answers[0])}
    assert answers[0].status_code == 401
    wrong, *mistyped = times
    comparisons = {
        kind: compare_timings(wrong, sample)
        for kind, sample in zip(list(kinds)[1:], mistyped, strict=True)
    }
    for kind, comparison in comparisons.items():
        print(f"\nwrong vs {kind}: {comparison}")
    told_apart = {kind: str(c) for kind, c in comparisons.items() if c.differs}
    assert not told_apart, f"mistyped real codenames are told apart from wrong ones: {told_apart}"


# --- 3. the comparison can fail --------------------------------------------


def synthetic_latencies(rng: random.Random, count: int, median_ns: float) -> list[float]:
    """Request-like times: a log-normal body (spread about 15%) and 5% of
    pauses several times longer, as the scheduler makes on a busy machine."""
    times = []
    for _ in range(count):
        t = median_ns * rng.lognormvariate(0, 0.15)
        if rng.random() < 0.05:
            t += rng.expovariate(1 / (3 * median_ns))
        times.append(t)
    return times


def test_the_comparison_passes_equal_samples_and_flags_a_planted_delay() -> None:
    median = 2_000_000.0  # 2 ms, about one login here
    # 100 seeds each, so this is a rate, not one lucky draw (and repeatable).
    false_alarms = 0
    missed = 0
    for seed in range(100):
        rng = random.Random(seed)
        a = synthetic_latencies(rng, PAIRS, median)
        same = synthetic_latencies(rng, PAIRS, median)
        false_alarms += compare_timings(a, same).differs
        # A planted extra step of 10% of a login, in every request of one
        # kind, either way round: about 270 us here, more than one cached
        # index lookup (tens of us) and far less than the key derivation
        # (about 1 ms, see the door test below).
        delay = 0.10 * median
        slower = [t + delay for t in synthetic_latencies(rng, PAIRS, median)]
        missed += not compare_timings(a, slower).differs
        missed += not compare_timings(slower, a).differs
    assert false_alarms == 0
    assert missed <= 2, f"missed {missed} of 200 planted delays"
    # The size condition on its own: a tiny but consistent shift (1%) is
    # significant with this many samples, yet below what counts.
    rng = random.Random(7)
    a = [median + rng.random() for _ in range(PAIRS)]
    tiny = [1.01 * t for t in a]
    assert compare_timings(a, tiny).p_value < ALPHA
    assert not compare_timings(a, tiny).differs


@pytest.mark.timeout(120)
def test_the_measurement_tells_a_right_codename_from_a_wrong_one(
    client: httpx.Client, contacts: Contacts
) -> None:
    """The same measurement, on a path that does more work: a right codename
    makes, encrypts and commits a session row. If this were not flagged,
    the pass above would prove nothing about this machine's noise."""
    # Fewer pairs suffice for a large effect (1.3x-2x here), and each right
    # login leaves a session row. If this ever turns flaky on a very noisy
    # machine, raise the pairs rather than removing the check.
    pairs = PAIRS // 2
    wrong = wrong_codenames(pairs + WARM_UP)
    comparison, answers = measure_logins(client, wrong, [contacts.live], pairs)
    print(f"\nwrong vs right: {comparison}")
    assert {a.status_code for a in answers} == {201, 401}
    assert comparison.differs, f"a right codename was not told apart: {comparison}"


@pytest.mark.timeout(120)
def test_the_measurement_tells_a_login_that_skips_the_derivation(client: httpx.Client) -> None:
    """And on a path that does less: at a door that does not exist the
    server answers before deriving the keys and looking the contact up
    (about 35% less time here). The detector must flag a shortcut too, not
    only an extra write."""
    pairs = PAIRS // 2
    comparison, answers = measure_logins(
        client,
        wrong_codenames(pairs + WARM_UP),
        wrong_codenames(pairs + WARM_UP),
        pairs,
        door_b="nowhere",
    )
    print(f"\nwrong vs no such door: {comparison}")
    assert {a.status_code for a in answers} == {401, 404}
    assert comparison.differs, f"a skipped derivation was not told apart: {comparison}"
