"""What to ship: the recommendation per (model, device, accelerator), and the Pareto front.

Among variants within the accuracy budget (accuracy drop against the reference no larger than the
budget; for unlabelled data, top-1 agreement with the reference of at least 100 - budget percent),
take the fastest and every variant not significantly slower than it by more than 5% (paired by
interleaved round, benchlab.results.within_run), and of those the smallest file. A fixed "within 5%
of the median" tie would flip from run to run where runs differ by more than that; a difference
the run cannot resolve is a tie. The Pareto front is the set of variants no other variant beats on
both size and median latency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchlab.results.within_run import PairedChange, paired_change

if TYPE_CHECKING:
    import pandas as pd

GROUP = ["model", "device_id", "accelerator"]
#: A variant slower than the fastest by less than this (or not significantly) ties with it.
TIE_THRESHOLD_PCT = 5.0
#: Per job, its latency in each round (repeat index -> ms); what the pick's ties are judged on.
RoundValues = dict[str, dict[int, float]]


def round_values(repeat_table: pd.DataFrame) -> RoundValues:
    """Return each job's ok repeats' latency by round, from a run's repeat table."""
    values: RoundValues = {}
    if repeat_table.empty:
        return values
    ok = repeat_table[(repeat_table["status"] == "ok") & repeat_table["latency_ms"].notna()]
    for row in ok.itertuples():
        values.setdefault(row.job_id, {})[int(row.repeat)] = float(row.latency_ms)
    return values


def within_budget(df: pd.DataFrame, budget_points: float) -> pd.Series:
    """Return, per row, whether the variant keeps accuracy within the budget of its reference."""
    import pandas as pd

    by_accuracy = df["accuracy_delta"].astype(float) >= -budget_points
    by_fidelity = df["fidelity_top1_agreement"].astype(float) * 100.0 >= 100.0 - budget_points
    labelled = df["accuracy_delta"].notna()
    has_fidelity = df["fidelity_top1_agreement"].notna()
    is_reference = df["fidelity_reference"].eq(df["variant"]) | (df["accuracy_delta"].eq(0) & labelled)
    result = pd.Series(False, index=df.index)
    result[labelled] = by_accuracy[labelled]
    result[~labelled & has_fidelity] = by_fidelity[~labelled & has_fidelity]
    return result | is_reference


def annotate(df: pd.DataFrame, budget_points: float, rounds: RoundValues | None = None) -> pd.DataFrame:
    """Return a copy with `in_budget`, `pareto`, `pick` and `pick_reason` columns (see the module docstring).

    `rounds` gives each job's latency per interleaved round; without it every variant in the
    budget ties with the fastest (nothing can tell them apart) and the smallest is picked.
    """
    out = df.copy()
    out["in_budget"] = False
    out["pareto"] = False
    out["pick"] = False
    out["pick_reason"] = ""
    ok = out[(out["status"] == "ok") & out["latency_ms_median"].notna()]
    out.loc[ok.index, "in_budget"] = within_budget(ok, budget_points)
    for _, group in ok.groupby(GROUP):
        size = group["size_bytes"].astype(float)
        latency = group["latency_ms_median"].astype(float)
        for index in group.index:
            dominated = ((size <= size[index]) & (latency <= latency[index])
                         & ((size < size[index]) | (latency < latency[index]))).any()
            out.loc[index, "pareto"] = not dominated
        eligible = group[out.loc[group.index, "in_budget"]]
        if eligible.empty:
            continue
        pick, reason = _pick(eligible, rounds or {})
        out.loc[pick, "pick"] = True
        out.loc[pick, "pick_reason"] = reason
    return out


def preference_order(eligible: pd.DataFrame, rounds: RoundValues) -> tuple[list, dict[object, PairedChange]]:
    """Return the eligible rows' indices best first, and the paired change of each tie against the fastest.

    Best first: the fastest row and its ties (not significantly slower than it beyond
    TIE_THRESHOLD_PCT, paired by round) smallest file first, then every other row fastest first.
    The pick is the first; benchlab.views.ship names the second as the runner-up.
    """
    latency = eligible["latency_ms_median"].astype(float)
    fastest = latency.idxmin()
    fastest_job = eligible.loc[fastest, "job_id"]
    ties = {}
    for index, row in eligible.iterrows():
        if index == fastest:
            continue
        change = paired_change(rounds.get(fastest_job, {}), rounds.get(row["job_id"], {}), TIE_THRESHOLD_PCT)
        if change.verdict != "regression":  # not significantly slower beyond the threshold: a tie
            ties[index] = change
    tied = sorted([fastest, *ties], key=lambda i: (float(eligible.loc[i, "size_bytes"] or 0), i != fastest))
    rest = sorted((i for i in eligible.index if i != fastest and i not in ties), key=lambda i: latency[i])
    return tied + rest, ties


def _pick(eligible: pd.DataFrame, rounds: RoundValues) -> tuple[object, str]:
    """Return the index of the smallest variant among those tied with the fastest, and why it won."""
    order, ties = preference_order(eligible, rounds)
    pick, fastest = order[0], eligible["latency_ms_median"].astype(float).idxmin()
    if pick == fastest:
        return pick, "fastest within the accuracy budget" + (" and smallest of its ties" if ties else "")
    saved = 100.0 * (1 - float(eligible.loc[pick, "size_bytes"]) / float(eligible.loc[fastest, "size_bytes"]))
    return pick, (f"not significantly slower than {eligible.loc[fastest, 'variant']} beyond "
                  f"{TIE_THRESHOLD_PCT:g}% ({ties[pick].describe()}) and {saved:.0f}% smaller")
