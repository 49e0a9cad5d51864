"""What to ship: the recommendation per (model, device, accelerator), and the Pareto front.

Within the budget. A variant is judged against its reference on the first figure it has, in this
order: its accuracy drop on labelled data (at most `budget_points`); its top-1 agreement with the
reference where the scored output is class scores (at least 100 - budget_points percent); the
lowest cosine similarity of any of its outputs to the reference's on the same inputs (at least
`min_cosine`), which is all a model run on synthetic inputs, or one whose outputs are not class
scores (a mask, an embedding, a box), has. The reference is always within. A row with none of the
three is not judged and so not within. The `budget_reason` column says which figure judged each
row, so a cosine judgement never reads as an accuracy one.

The pick. Among the rows within the budget, the fastest (lowest median) and every row that ties
with it: not significantly slower beyond TIE_THRESHOLD_PCT (paired by interleaved round,
benchlab.results.within_run) than the fastest, nor than any other row with a lower median; of
those, the smallest file. A fixed "within 5% of the median" tie would flip from run to run where
runs differ by more than that; a difference the run cannot resolve is a tie. The second condition
keeps the rule coherent when the fastest is noisy: judged against the fastest alone, a small
variant tied with a noisy fastest would win even where another tie is measurably faster than it
(0.010 against 0.007 ms, 39% slower, significant). The reason compares the pick with its
runner-up: the fastest, when the pick is a smaller tie of it; else the next row of the ranking.

The Pareto front is the set of variants no other variant beats on both size and median latency.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchlab.plan.suite import AccuracySpec
from benchlab.results.within_run import PairedChange, paired_change

if TYPE_CHECKING:
    import pandas as pd

GROUP = ["model", "device_id", "accelerator"]
#: A variant slower than the fastest by less than this (or not significantly) ties with it.
TIE_THRESHOLD_PCT = 5.0
#: Per job, its latency in each round (repeat index -> ms); what the pick's ties are judged on.
RoundValues = dict[str, dict[int, float]]
#: The budget of a run whose stored suite predates a field.
DEFAULT_ACCURACY = AccuracySpec()


def round_values(repeat_table: pd.DataFrame) -> RoundValues:
    """Return each job's ok repeats' latency by round, from a run's repeat table."""
    values: RoundValues = {}
    if repeat_table.empty:
        return values
    ok = repeat_table[(repeat_table["status"] == "ok") & repeat_table["latency_ms"].notna()]
    for row in ok.itertuples():
        values.setdefault(row.job_id, {})[int(row.repeat)] = float(row.latency_ms)
    return values


def as_float(value: object) -> float | None:
    """Return a table cell as a float, None when it is missing (None or NaN)."""
    return None if value is None or value != value else float(value)  # noqa: PLR0124 - NaN check


def _shown(value: float, bound: float, decimals: int) -> str:
    """Return `value` with enough decimals that, as printed, it compares with `bound` as the true value does."""
    for places in range(decimals, 10):
        text = f"{value:.{places}f}"
        if (float(text) >= bound) == (value >= bound):
            return text
    return repr(value)


#: How budget_judgement's reason starts when no figure judges a row.
NOT_JUDGED = "not judged"


def budget_judgement(row: Mapping[str, Any], budget_points: float, min_cosine: float) -> tuple[bool, str]:
    """Return whether one results row is within the budget and which figure said so.

    E.g. (True, "within budget by worst-output cosine 0.9987 ≥ 0.99"); the figures are tried in
    the module docstring's order.
    """
    if row["variant"] == row["fidelity_reference"]:
        return True, "the reference"
    delta = as_float(row["accuracy_delta"])
    agreement = as_float(row["fidelity_top1_agreement"])
    cosine = as_float(row.get("fidelity_worst_cosine"))
    if delta is not None:
        label, value, bound, decimals, unit, bound_unit = "accuracy Δ", delta, -budget_points, 2, "", " points"
    elif agreement is not None:
        label, value, bound, decimals, unit = "top-1 agreement", 100.0 * agreement, 100.0 - budget_points, 1, "%"
        bound_unit = unit
    elif cosine is not None:
        label, value, bound, decimals, unit, bound_unit = "worst-output cosine", cosine, min_cosine, 4, "", ""
    else:
        return False, f"{NOT_JUDGED} (no accuracy, top-1 agreement or output cosine against the reference)"
    within = value >= bound
    return within, (f"{'within' if within else 'outside'} budget by {label} {_shown(value, bound, decimals)}{unit} "
                    f"{'≥' if within else '<'} {bound:g}{bound_unit}")


@dataclass(frozen=True)
class Ranking:
    """The rows within the budget of one group, best first, and the paired comparisons that ordered them."""

    #: Row indices best first: the fastest and its ties smallest file first, then the others fastest first.
    order: tuple[Hashable, ...]
    fastest: Hashable
    #: The ties of the fastest (not the fastest itself).
    ties: frozenset[Hashable]
    #: Per row but the fastest: the row it was judged against and the paired change of its latency
    #: against that row's. A tie is judged against the fastest; any other row against the fastest
    #: row that is significantly faster than it beyond the threshold.
    against: Mapping[Hashable, tuple[Hashable, PairedChange]]


def rank(eligible: pd.DataFrame, rounds: RoundValues) -> Ranking:
    """Return the ranking of rows within the budget (see the module docstring for the rule)."""
    by_speed = list(eligible["latency_ms_median"].astype(float).sort_values(kind="stable").index)
    fastest, jobs = by_speed[0], eligible["job_id"]
    ties: set[Hashable] = set()
    against: dict[Hashable, tuple[Hashable, PairedChange]] = {}
    for position, index in enumerate(by_speed[1:], start=1):
        changes = ((faster, paired_change(rounds.get(jobs[faster], {}), rounds.get(jobs[index], {}),
                                          TIE_THRESHOLD_PCT)) for faster in by_speed[:position])
        first = next(changes)  # against the fastest
        beaten = next((c for c in itertools.chain([first], changes) if c[1].verdict == "regression"), None)
        if beaten is None:
            ties.add(index)
        against[index] = beaten or first

    def size(index: Hashable) -> float:
        return as_float(eligible.loc[index, "size_bytes"]) or math.inf  # an unrecorded size wins no tie

    tied = sorted([fastest, *ties], key=lambda i: (size(i), i != fastest))
    rest = [i for i in by_speed if i != fastest and i not in ties]
    return Ranking(tuple(tied + rest), fastest, frozenset(ties), against)


def _size_words(pick_bytes: float | None, other_bytes: float | None) -> str:
    """Return the pick's size against another's: "40% smaller", "20% larger", "the same size"; "" if one is unknown."""
    if not pick_bytes or not other_bytes:
        return ""
    if pick_bytes == other_bytes:
        return "the same size"
    saved = 100.0 * (1.0 - pick_bytes / other_bytes)
    shown = f"{abs(saved):.0f}" if round(saved) else f"{abs(saved):.1f}"
    return f"{shown}% smaller" if saved > 0 else f"{shown}% larger"


def _paired(change: PairedChange) -> str:
    """Return a paired change as within_run describes it, its verdict put in the words of a tie rule."""
    verdict = {"regression": "significant", "improved": "significant",
               "within threshold": f"significant, within the {TIE_THRESHOLD_PCT:g}% tie threshold"}
    if change.verdict not in verdict:
        return change.describe()
    return change.describe().replace(f"({change.verdict})", f"({verdict[change.verdict]})")


def explain(eligible: pd.DataFrame, ranking: Ranking, name: Callable[[pd.Series], str]) -> tuple[str, Hashable | None]:
    """Return why the ranking's first row won and the runner-up it is compared with (None when it is alone).

    The runner-up is the fastest when the pick is a smaller tie of it, else the ranking's second
    row; `name` names a row in the reason. Every figure quoted is the comparison the rule used.
    """
    order, fastest = ranking.order, ranking.fastest
    pick = order[0]
    if len(order) == 1:
        return "the only variant within the budget", None

    def size(index: Hashable, other: Hashable) -> str:
        return (_size_words(as_float(eligible.loc[index, "size_bytes"]), as_float(eligible.loc[other, "size_bytes"]))
                or "of unrecorded size")

    if pick != fastest:
        _, change = ranking.against[pick]
        return (f"not significantly slower than {name(eligible.loc[fastest])} beyond {TIE_THRESHOLD_PCT:g}% "
                f"({_paired(change)}), the fastest within the budget, so tied with it and {size(pick, fastest)}"
                ), fastest
    runner = order[1]
    _, change = ranking.against[runner]
    if runner in ranking.ties:
        larger = size(runner, pick)
        return (f"the fastest within the budget; {name(eligible.loc[runner])} ties with it ({_paired(change)}) "
                + (f"but is {larger}" if larger != "the same size" else "and is the same size: the fastest wins")
                ), runner
    # Not a tie, and every row faster than it is a tie or the fastest (the ranking puts it second):
    # so the row that beat it is the fastest, the pick.
    other = size(runner, pick)
    return (f"the fastest within the budget; {name(eligible.loc[runner])} is {change.change_pct:.0f}% slower "
            f"({_paired(change)}) {'though' if other.endswith('smaller') else 'and'} {other}"), runner


def annotate(df: pd.DataFrame, budget_points: float, rounds: RoundValues | None = None,
             min_cosine: float = DEFAULT_ACCURACY.min_cosine) -> pd.DataFrame:
    """Return a copy with `in_budget`, `budget_reason`, `pareto`, `pick` and `pick_reason` columns.

    See the module docstring. `rounds` gives each job's latency per interleaved round; without it
    every variant in the budget ties with the fastest (nothing can tell them apart) and the
    smallest is picked.
    """
    out = df.copy()
    out["in_budget"] = False
    out["budget_reason"] = ""
    out["pareto"] = False
    out["pick"] = False
    out["pick_reason"] = ""
    ok = out[(out["status"] == "ok") & out["latency_ms_median"].notna()]
    for index, row in ok.iterrows():
        within, reason = budget_judgement(row, budget_points, min_cosine)
        out.loc[index, "in_budget"] = within
        out.loc[index, "budget_reason"] = reason
    for _, group in ok.groupby(GROUP):
        size = group["size_bytes"].astype(float)
        latency = group["latency_ms_median"].astype(float)
        for index in group.index:
            dominated = ((size <= size[index]) & (latency <= latency[index])
                         & ((size < size[index]) | (latency < latency[index]))).any()
            out.loc[index, "pareto"] = not dominated
        eligible = group[out.loc[group.index, "in_budget"].astype(bool)]
        if eligible.empty:
            continue
        ranking = rank(eligible, rounds or {})
        pick = ranking.order[0]
        out.loc[pick, "pick"] = True
        out.loc[pick, "pick_reason"] = (explain(eligible, ranking, lambda r: str(r["variant"]))[0]
                                        + faster_outside(out.loc[group.index], latency[pick],
                                                         lambda r: str(r["variant"])))
    return out


def faster_outside(group: pd.DataFrame, pick_latency: float, name: Callable[[pd.Series], str]) -> str:
    """Return "; faster but outside the budget: full-int8 (worst-output cosine 0.9876 < 0.99)" for the
    rows of `group` (judged: with `budget_reason`) faster than the pick that the budget ruled out, so a
    broken int8 is not passed over silently; "" when there are none. `name` names a row."""
    faster = group[(group["latency_ms_median"].astype(float) < pick_latency)
                   & group["budget_reason"].astype(str).str.startswith("outside budget by ")]
    if faster.empty:
        return ""
    return "; faster but outside the budget: " + ", ".join(
        f"{name(row)} ({str(row['budget_reason']).removeprefix('outside budget by ')})"
        for _, row in faster.sort_values("latency_ms_median").iterrows())
