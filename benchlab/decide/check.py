"""Which measurements of a run should not be trusted, and what the suite as a whole leaves out.

Like pyperf's ``check``, this only warns: the numbers stay in the store, and the user decides. The
warnings are typed records (CheckWarning); `benchlab check` prints them.

Per measurement (status "ok" only; a failed job already says why), first each metric's own
warnings (benchlab.metrics; latency's are these three):
  * unstable      the iterations of a repeat spread by more than 10% of their median, by a robust
                  spread (IQR / 1.349, on the scale of pyperf's std / mean rule of thumb; median
                  over repeats); the message counts and sizes the outliers. Not the std: a handful of
                  context switches in microsecond iterations make it 200-1500% of the mean while the
                  repeat medians agree within a few percent.
  * noisy-repeats the repeat medians (one runner process each) spread by more than 10%: the
                  process-to-process variation of this device hides changes of that size.
  * few-repeats   fewer than 6 repeats: the repeat is the unit of replication, and below 6 no 95%
                  interval of the median exists and no comparison can be significant.
  * thermal-rose / started-hot
                  the device heated up during the job, or had to start before it cooled down
                  (flags set by the executor and the thermal gate): the latencies measure the
                  device's thermal state as much as the model.
  * delegate-fallback
                  a GPU / NPU / Core ML setting whose delegate did not take the whole model
                  (delegate_applied "no" or "partial", or ops on the CPU in its op profile):
                  part or all of it ran on the CPU; names the ops that fell back when profiled.
Per suite:
  * flagship-only every phone targeted is a flagship: most users have slower phones
                  (benchlab.decide.ship.tier_coverage, which the per-tier ship plan shares).
  * pick-is-fp32  the variant the report recommends (benchlab.decide.pick.annotate's pick) is the
                  unquantized fp32 reference: no optimized variant was both within the budget and
                  at least as fast, which usually means a recipe or a delegate is not doing its
                  job. Names each optimized variant outside the budget with the figure that put
                  it there (accuracy, top-1 agreement or worst-output cosine), or says that the
                  ones within it were not as fast and smaller.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.decide.pick import GROUP, annotate, round_values
from benchlab.execute.gate import STARTED_HOT
from benchlab.metrics import registered as registered_metrics
from benchlab.optimize.recipes import unquantized_recipes
from benchlab.records import Measurement, describe_ops
from benchlab.results.run_record import RunRecord
from benchlab.decide.ship import HOST_PLATFORM, tier_coverage

if TYPE_CHECKING:
    import pandas as pd

THERMAL_ROSE = "thermal-rose"
FALLBACK_STATES = ("no", "partial")
UNQUANTIZED_RECIPES = unquantized_recipes()


@dataclass(frozen=True)
class CheckWarning:
    """One reason not to trust a measurement (or, with no job_id, the suite's coverage)."""

    code: str
    message: str
    job_id: str | None = None
    model: str | None = None
    variant: str | None = None
    device_id: str | None = None
    accelerator: str | None = None

    @property
    def where(self) -> str:
        """Return what the warning is about: "model/variant on device · accelerator" or "suite"."""
        if self.job_id is None:
            return "suite"
        return f"{self.model}/{self.variant} on {self.device_id} · {self.accelerator}"


def _warning(m: Measurement, code: str, message: str) -> CheckWarning:
    return CheckWarning(code=code, message=message, job_id=m.job_id, model=m.variant.model, variant=m.variant.name,
                        device_id=m.device.id, accelerator=m.accelerator.name)


def check_measurement(m: Measurement) -> list[CheckWarning]:
    """Return the reasons not to trust one measurement (none for a measurement that is not ok)."""
    if m.status != "ok":
        return []
    found = [_warning(m, code, message) for metric in registered_metrics() for code, message in metric.warnings(m)]
    if THERMAL_ROSE in m.flags:
        before = m.conditions_before.thermal_status if m.conditions_before else None
        after = m.conditions_after.thermal_status if m.conditions_after else None
        found.append(_warning(m, THERMAL_ROSE, f"thermal status rose during the job ({before} → {after}): "
                                               "latencies include throttling; add cooldown_seconds"))
    if STARTED_HOT in m.flags:
        found.append(_warning(m, STARTED_HOT, "the device was still hot when the job had to start "
                                              "(the thermal gate's wait limit passed)"))
    fallback = m.cpu_fallback_ops
    if m.accelerator.kind != "cpu" and (m.delegate_applied in FALLBACK_STATES or fallback):
        nodes = (f" ({m.delegated_nodes} of {m.total_nodes} nodes delegated)"
                 if m.delegated_nodes is not None and m.total_nodes is not None else "")
        time = f", {m.delegated_time_pct:.0f}% of the time on the delegate" if m.delegated_time_pct is not None else ""
        ops = f": {describe_ops(fallback)}" if fallback else ""
        found.append(_warning(m, "delegate-fallback", f"{m.accelerator.kind} delegate applied: "
                                                      f"{m.delegate_applied or '?'}{nodes}{time}; the rest ran on "
                                                      f"the CPU{ops}"))
    return found


def _suite_warnings(record: RunRecord) -> list[CheckWarning]:
    found: list[CheckWarning] = []
    phones = [d for d in record.meta.devices if d.platform != HOST_PLATFORM]
    if tier_coverage(phones).flagship_only:
        names = ", ".join(d.model or d.id for d in phones)
        found.append(CheckWarning("flagship-only", f"no low-end device: most users will see slower numbers "
                                                   f"(only flagship phones targeted: {names})"))
    found.extend(_pick_warnings(record))
    return found


def _why_not_optimized(rows: pd.DataFrame) -> str:
    """Return why none of a group's optimized (ok) rows was picked over the unquantized one."""
    optimized = rows[(rows["status"] == "ok") & ~rows["recipe"].isin(UNQUANTIZED_RECIPES)]
    if optimized.empty:
        return "no optimized variant was measured here"
    outside = [f"{r['variant']} {r['budget_reason']}" for _, r in optimized[~optimized["in_budget"].astype(bool)].iterrows()]
    within = optimized[optimized["in_budget"].astype(bool)]["variant"].tolist()
    if within:
        outside.append(f"{', '.join(within)} {'is' if len(within) == 1 else 'are'} within the budget but not "
                       "as fast and smaller")
    return "; ".join(outside)


def _pick_warnings(record: RunRecord) -> list[CheckWarning]:

    df = record.results
    if df.empty:
        return []
    accuracy = record.meta.suite.accuracy
    annotated = annotate(df, accuracy.budget_points, round_values(record.repeat_table), accuracy.min_cosine)
    groups = dict(list(annotated.groupby(GROUP)))
    picks = annotated[annotated["pick"] & annotated["recipe"].isin(UNQUANTIZED_RECIPES)]
    return [
        CheckWarning("pick-is-fp32", f"the pick is the unquantized {r['variant']} variant: "
                                     f"{_why_not_optimized(groups[tuple(r[c] for c in GROUP)])}; check the recipes "
                                     "and the accelerator", job_id=r["job_id"], model=r["model"],
                     variant=r["variant"], device_id=r["device_id"], accelerator=r["accelerator"])
        for _, r in picks.iterrows()
    ]


def outlier_summary(run: RunRecord) -> str:
    """Return the run's iteration outliers in one line (count, rows, largest as a multiple of its repeat's
    median; benchlab.metrics.stats.iteration_spread), or that it had none. Reported, never a warning:
    the medians every statistic rests on do not move with them."""
    from benchlab.metrics.stats import iteration_spread

    spreads = [s for m in run.measurements if m.status == "ok" and (s := iteration_spread(m.samples_us)) is not None]
    found = [s for s in spreads if s.outliers]
    if not found:
        return f"iteration outliers: none in {len(spreads)} row(s) with iterations"
    count, total = sum(s.outliers for s in found), sum(s.iterations for s in spreads)
    largest = max(s.largest_outlier_ratio or 0.0 for s in found)
    return (f"iteration outliers (beyond Q3 + 3 IQR of their repeat): {count:,} of {total:,} iterations in "
            f"{len(found)} of {len(spreads)} row(s), up to {largest:.1f}x their repeat's median; the medians are "
            "robust to them, so they are not a warning")


def check_run(run: RunRecord | Path | str) -> list[CheckWarning]:
    """Return every warning about a run: per measurement in stored order, then suite-wide ones.

    Raises StoreError when `run` is not a run or has an unknown schema version.
    """
    record = run if isinstance(run, RunRecord) else RunRecord.load(run)
    found = [w for m in record.measurements for w in check_measurement(m)]
    return found + _suite_warnings(record)
