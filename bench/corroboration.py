"""Events from 100,000 reports: how right, and how fast (issue #13).

On a synthetic corpus with known events (``bench/_events_corpus.py``:
Ukrainian, Russian and English reports, paraphrased; copies, photos,
coarsened places, web contacts, distractors, planted single-origin
events), through the public ``shoal.corroborate`` API only:

* ``build_s``: making the ``Report`` values (each folds and sketches its
  words) for the ``--reports`` reports; ``grouping_s``: ``Grouping.of``
  over them; ``regroup_s`` = both, the issue's "regrouping from scratch"
  (goal < 30 s);
* ``place_ms_p50`` / ``place_ms_p99``: placing each of ``--placements``
  further reports, one at a time, into the grouping of ``--reports``
  (``Report`` made inside the timed part; goal < 50 ms);
* ``precision`` / ``recall``: over pairs of reports, of "in one event"
  predicted against true (all ``--reports`` + ``--placements``); recall
  also per pair of languages (``recall_uk_ru``, ``recall_uk_en``,
  ``recall_ru_en``, and ``recall_same_language``);
* ``planted_shown_corroborated``: planted events any of whose reports
  sits in an event that ``independence`` finds 2 or more independent
  sources behind (goal: 0); ``planted_in_real_events``: planted events
  whose reports were grouped with another event's reports;
  ``planted_alone_shown_corroborated``: planted events shown corroborated
  though grouped with nothing else (what ``independence`` alone decides);
  ``planted_in_unassessed_events``: planted events inside a predicted
  event too large to assess (:data:`ASSESSED_AT_MOST`), counted as shown.

JSON lines (``bench``: "corroboration"): the corpus, then the figures with
``goals`` as booleans. Run: ``.venv/bin/python bench/corroboration.py``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

import _events_corpus as corpus
import _harness as h
from shoal.corroborate import Grouping, Report, Settings, Spot, independence

LANGUAGE_PAIRS = (("uk", "ru"), ("uk", "en"), ("ru", "en"))
#: Reports in a predicted event past which ``independence`` (which compares
#: every pair of an event's reports) is not run: a planted event inside one
#: is counted as shown corroborated, and ``planted_in_unassessed_events``
#: says how many were.
ASSESSED_AT_MOST = 3000


def report_of(spec: corpus.Spec) -> Report:
    return Report(
        key=spec.key,
        source=spec.source,
        verified=spec.verified,
        compartment=corpus.COMPARTMENT,
        time=spec.time,
        spot=Spot(*spec.spot) if spec.spot else None,
        text=spec.text,
        sha256=spec.sha256,
        dhash=spec.dhash,
    )


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    h.note(f"corroboration: generating {args.reports} + {args.placements} reports")
    made = corpus.generate(args.reports + args.placements, args.seed, args.days)
    settings = Settings()
    first, later = made.specs[: args.reports], made.specs[args.reports :]

    h.note("corroboration: building reports and grouping them from scratch")
    start = time.perf_counter()
    reports = [report_of(s) for s in first]
    built = time.perf_counter()
    grouping = Grouping.of(reports, settings)
    grouped = time.perf_counter()

    h.note(f"corroboration: placing {len(later)} more, one at a time")
    place_s = []
    for spec in later:
        t0 = time.perf_counter()
        grouping.place(report_of(spec))
        place_s.append(time.perf_counter() - t0)

    h.note("corroboration: scoring")
    truth = {s.key: s for s in made.specs}
    predicted = {r.key: event.key for event in grouping.events() for r in event.reports}
    scores = _pairs(made.specs, predicted)
    planted = _planted(grouping, made, truth)
    regroup_s = grouped - start
    place_p99 = _percentile(place_s, 0.99) * 1e3
    corpus_line: dict[str, object] = {
        "bench": "corroboration", "part": "corpus", "synthetic": True,
        "reports": len(made.specs), "seed": args.seed, "days": args.days,
        "events": len({s.event for s in made.specs}),
        "planted_events": len(made.planted_events),
        "languages": dict(Counter(s.language for s in made.specs)),
        "web_contact_reports": sum(not s.verified for s in made.specs),
        "with_photo": sum(bool(s.dhash) for s in made.specs),
        "without_time": sum(s.time is None for s in made.specs),
        "without_place": sum(s.spot is None for s in made.specs),
        "coarsened": sum(bool(s.spot and s.spot[2]) for s in made.specs),
        "window_s": settings.window_s, "distance_m": settings.distance_m,
    }  # fmt: skip
    figures: dict[str, object] = {
        "bench": "corroboration", "part": "figures", "code": h.code_version(),
        "grouped": args.reports, "placements": len(place_s),
        "precision": round(scores["precision"], 6), "recall": round(scores["recall"], 4),
        **{k: round(v, 4) for k, v in scores.items() if k.startswith("recall_")},
        "predicted_events": len(set(predicted.values())),
        "largest_predicted_event": max(Counter(predicted.values()).values()),
        "largest_true_event": max(Counter(s.event for s in made.specs).values()),
        "build_s": round(built - start, 2), "grouping_s": round(grouped - built, 2),
        "regroup_s": round(regroup_s, 2),
        "place_ms_p50": round(statistics.median(place_s) * 1e3, 2) if place_s else None,
        "place_ms_p99": round(place_p99, 2),
        "place_ms_max": round(max(place_s, default=0) * 1e3, 2),
        "planted_shown_corroborated": planted["shown"],
        "planted_in_real_events": planted["merged"],
        "planted_alone_shown_corroborated": planted["shown_alone"],
        "planted_in_unassessed_events": planted["unassessed"],
        "goals": {
            "place_ms_p99_under_50": place_p99 < 50,
            "regroup_s_under_30": regroup_s < 30,
            "planted_shown_corroborated_0": planted["shown"] == 0,
        },
    }  # fmt: skip
    return [corpus_line, figures]


def _pairs(specs: Sequence[corpus.Spec], predicted: dict[str, str]) -> dict[str, float]:
    """Pairwise precision and recall of "in one event", from the table of
    true event x predicted event counts (no pair is listed)."""
    both: Counter[tuple[int, str]] = Counter((s.event, predicted[s.key]) for s in specs)
    true_sizes = Counter(s.event for s in specs)
    predicted_sizes = Counter(predicted[s.key] for s in specs)
    right = sum(math.comb(n, 2) for n in both.values())
    true_pairs = sum(math.comb(n, 2) for n in true_sizes.values())
    predicted_pairs = sum(math.comb(n, 2) for n in predicted_sizes.values())
    out = {
        "precision": right / predicted_pairs if predicted_pairs else 1.0,
        "recall": right / true_pairs if true_pairs else 1.0,
    }
    # Per language pair: true events are small, so their pairs are listed.
    by_event: dict[int, list[corpus.Spec]] = defaultdict(list)
    for s in specs:
        by_event[s.event].append(s)
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for members in by_event.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                langs = {a.language, b.language}
                name = "same_language" if len(langs) == 1 else _pair_name(langs)
                total[name] += 1
                found[name] += predicted[a.key] == predicted[b.key]
    for name in ("uk_ru", "uk_en", "ru_en", "same_language"):
        out[f"recall_{name}"] = found[name] / total[name] if total[name] else 1.0
    return out


def _pair_name(languages: set[str]) -> str:
    return next(f"{a}_{b}" for a, b in LANGUAGE_PAIRS if {a, b} == languages)


def _planted(
    grouping: Grouping, made: corpus.Corpus, truth: dict[str, corpus.Spec]
) -> dict[str, int]:
    """How many planted events show 2 or more independent sources, and how
    many were grouped with reports of other events."""

    def reliability(report: Report) -> str | None:
        return made.grades.get(report.source or "")

    shown: set[int] = set()
    merged: set[int] = set()
    unassessed: set[int] = set()
    for event in grouping.events():
        events = {truth[r.key].event for r in event.reports}
        planted = events & made.planted_events
        if not planted:
            continue
        if len(events) > 1:
            merged |= planted
        if len(event.reports) > ASSESSED_AT_MOST:
            unassessed |= planted
            shown |= planted
        elif independence(event.reports, reliability).independent >= 2:
            shown |= planted
    return {
        "shown": len(shown), "merged": len(merged), "shown_alone": len(shown - merged),
        "unassessed": len(unassessed),
    }  # fmt: skip


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100_000, help="grouped from scratch")
    parser.add_argument("--placements", type=int, default=500, help="placed one by one after")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--days", type=int, default=365, help="the corpus's span of time")
    args = parser.parse_args()
    if args.placements < 1 or args.reports < 1:
        parser.error("--reports and --placements are at least 1")
    for line in run(args):
        h.emit(line)


if __name__ == "__main__":
    main()
