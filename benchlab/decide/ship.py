"""What to ship, per device tier: one variant and accelerator per model and tier, with the reason in words.

A tier (low-end, mid, flagship, from the device profiles) is judged on its slowest device, the one
most of its users' experience is bounded by: the device whose reference variant is slowest at its
best (its fastest ok accelerator setting for the reference, so a device is not called slow for an
accelerator it happens to run badly). On that device every (variant, accelerator) row within the
budget (the annotated table's `in_budget`, benchlab.decide.pick) is ranked as the pick ranks them
(pick.rank: the fastest and its ties, paired by interleaved round, smallest file first; then the
others, fastest first). The first is shipped, and the reason (pick.explain) compares it with the
runner-up: the fastest when the pick is a smaller tie of it ("not significantly slower than fp16 ·
gpu beyond 5% (...), the fastest within the budget, so tied with it and 40% smaller"), else the
next row ("the fastest within the budget; fp16 · cpu is 58% slower (...) and 50% larger"). It ends
with the figure that put the pick within the budget ("within budget by worst-output cosine 0.9987
≥ 0.99"), so a fidelity judgement never reads as an accuracy one.

Which tiers a run has no device in is defined here once (`tier_coverage`); `benchlab check`'s
flagship-only warning (benchlab.decide.check) uses the same definition. This module decides and
returns a ShipPlan; benchlab.views.ship renders it (report section, terminal table).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchlab.plan.profiles import TIERS
from benchlab.decide.delivery import MB, Delivery, check_delivery
from benchlab.decide.pick import (
    RoundValues,
    as_float,
    explain,
    faster_outside,
    rank,
    round_values,
)

if TYPE_CHECKING:
    import pandas as pd

    from benchlab.records import DeviceInfo
    from benchlab.results.run_record import RunRecord

#: The tier of a row whose device has none (an older record).
NO_TIER = "unknown"
#: The one platform benchlab itself supplies (this machine); every other device is a phone.
HOST_PLATFORM = "host"


@dataclass(frozen=True)
class TierCoverage:
    """Which device tiers the phones of a run belong to, and which have no phone."""

    present: frozenset[str]
    missing: tuple[str, ...]

    @property
    def flagship_only(self) -> bool:
        """Whether there are phones and every one is a flagship (most users have slower phones)."""
        return self.present == {"flagship"}

    def note(self) -> str | None:
        """Return the sentence naming the tiers with no phone, None when every tier has one."""
        if not self.missing:
            return None
        targeted = ("only flagship phones were targeted" if self.flagship_only else
                    "no phone was targeted" if not self.present else
                    f"phones of tier {', '.join(sorted(self.present))} only")
        return (f"No device of tier {', '.join(self.missing)} in this run ({targeted}): "
                "nothing here says what to ship to those users.")


def tier_coverage(devices: Iterable[DeviceInfo]) -> TierCoverage:
    """Return which of TIERS a run's devices cover; this machine is no phone."""
    present = frozenset(d.tier or NO_TIER for d in devices if d.platform != HOST_PLATFORM)
    return TierCoverage(present, tuple(t for t in TIERS if t not in present))


@dataclass(frozen=True)
class TierPick:
    """What to ship for one model on one tier, judged on the tier's slowest device.

    `variant` is None when no row on that device is within the accuracy budget (or the tier has
    no reference measurement to find its slowest device); `reason` then says which.
    """

    model: str
    tier: str
    device_id: str | None
    device_model: str | None
    reason: str
    variant: str | None = None
    format: str | None = None
    accelerator: str | None = None
    median_ms: float | None = None
    size_bytes: int | None = None
    size_compressed_bytes: int | None = None
    accuracy: float | None = None
    accuracy_delta: float | None = None
    top1_agreement: float | None = None
    worst_cosine: float | None = None
    runner_up: str | None = None


def _tier_order(tier: str) -> tuple[int, str]:
    return (TIERS.index(tier) if tier in TIERS else len(TIERS), tier)


def slowest_device(rows: pd.DataFrame) -> str | None:
    """Return the device of these rows (one tier's) whose reference variant is slowest at its best setting.

    A row is the reference's when its variant is the one its fidelity is measured against. None
    when no device has an ok reference row. Ties go to the first device id in sort order.
    """
    ok = rows[(rows["status"] == "ok") & rows["latency_ms_median"].notna()]
    reference = ok[ok["variant"] == ok["fidelity_reference"]]
    if reference.empty:
        return None
    best = reference.groupby("device_id")["latency_ms_median"].min().sort_index()
    return str(best.idxmax())


def _where(row: pd.Series) -> str:
    return f"{row['variant']} · {row['accelerator']}"


def _tier_pick(model: str, tier: str, rows: pd.DataFrame, rounds: RoundValues) -> TierPick:
    device = slowest_device(rows)
    if device is None:
        return TierPick(model, tier, None, None, "no ok reference measurement on any device of this tier, "
                                                 "so its slowest device is unknown")
    here = rows[rows["device_id"] == device]
    device_model = here["device_model"].dropna().iloc[0] if here["device_model"].notna().any() else None
    ok = here[(here["status"] == "ok") & here["latency_ms_median"].notna()]
    eligible = ok[ok["in_budget"].astype(bool)]
    if eligible.empty:
        return TierPick(model, tier, device, device_model, "no variant within the budget on this device")
    ranking = rank(eligible, rounds)
    pick = eligible.loc[ranking.order[0]]
    reason, runner = explain(eligible, ranking, _where)
    compressed = pick.get("size_compressed_bytes")
    return TierPick(
        model=model, tier=tier, device_id=device, device_model=device_model,
        reason=f"{reason}; {pick['budget_reason']}{faster_outside(ok, float(pick['latency_ms_median']), _where)}",
        variant=str(pick["variant"]), format=str(pick["format"]), accelerator=str(pick["accelerator"]),
        median_ms=float(pick["latency_ms_median"]),
        size_bytes=int(pick["size_bytes"]) if as_float(pick["size_bytes"]) is not None else None,
        size_compressed_bytes=int(compressed) if as_float(compressed) is not None else None,
        accuracy=as_float(pick["accuracy"]), accuracy_delta=as_float(pick["accuracy_delta"]),
        top1_agreement=as_float(pick["fidelity_top1_agreement"]),
        worst_cosine=as_float(pick.get("fidelity_worst_cosine")),
        runner_up=None if runner is None else _where(eligible.loc[runner]),
    )


def ship_per_tier(annotated: pd.DataFrame, rounds: RoundValues) -> list[TierPick]:
    """Return one TierPick per (model, tier) of a run, tiers in order low-end, mid, flagship, then others.

    `annotated` is the results table with pick.annotate's `in_budget` and `budget_reason` columns; `rounds` each job's
    latency per interleaved round (pick.round_values), which the ties and the reason's speed
    difference are judged on.
    """
    picks = []
    tiers = annotated["tier"].fillna(NO_TIER)
    for model in sorted(annotated["model"].unique()):
        of_model = annotated["model"] == model
        for tier in sorted(tiers[of_model].unique(), key=_tier_order):
            picks.append(_tier_pick(model, tier, annotated[of_model & (tiers == tier)], rounds))
    return picks


@dataclass(frozen=True)
class ShipPlan:
    """A run's per-tier picks, the tiers it has no phone in, and how each shipped model is delivered."""

    picks: tuple[TierPick, ...]
    coverage: TierCoverage
    deliveries: tuple[Delivery, ...]


def deliveries_of(picks: Iterable[TierPick], app_base_bytes: int) -> tuple[Delivery, ...]:
    """Return the delivery of each distinct shipped (model, variant), by its compressed size when recorded."""
    seen: dict[tuple[str, str], Delivery] = {}
    for p in picks:
        if p.variant is None or (p.model, p.variant) in seen:
            continue
        size = p.size_compressed_bytes if p.size_compressed_bytes is not None else p.size_bytes
        if size is None:
            continue  # nothing recorded to weigh it by
        seen[(p.model, p.variant)] = check_delivery(p.model, p.variant, p.format or "", size, app_base_bytes,
                                                    compressed=p.size_compressed_bytes is not None)
    return tuple(seen.values())


def ship_plan(record: RunRecord, annotated: pd.DataFrame) -> ShipPlan:
    """Return what to ship per tier for a run and how to deliver it, from its record and annotated table.

    The app's own size comes from the suite's `delivery.app_base_mb` (0 for runs recorded before it).
    """
    picks = tuple(ship_per_tier(annotated, round_values(record.repeat_table)))
    app_base_bytes = round(record.meta.suite.delivery.app_base_mb * MB)
    return ShipPlan(picks, tier_coverage(record.meta.devices), deliveries_of(picks, app_base_bytes))
