"""Compare a baseline run with a candidate run: what changed, and is the change real?

One `Comparison` per (model, variant, device_id, accelerator) found in either run. A night is
judged against a baseline night measurement by measurement, and the verdict is 1 (a regression
check failed) when any measurement regressed beyond its threshold, a candidate measurement failed
where the baseline's succeeded, or a candidate variant broke the accuracy budget; otherwise 0.

Every metric of the registry (benchlab.metrics) that compares is judged by its own module; the
rules (latency, init and first inference at the repeat level against the noise floor; size,
memory and accuracy against their thresholds) are explained in benchlab.metrics.change. A metric
that does not gate (init, first inference) is reported and never fails the check.

Comparability (pyperf refuses to compare what differs in checked metadata; so do we)
-------------------------------------------------------------------------------------
Two measurements are compared only when the device's OS build (os_version), the runner and its
version, the variant's recipe and recipe options, the variant format and the accelerator setting
are the same (the device id, model, variant and accelerator name are the key). Otherwise the row
is "not comparable: <field> differs (a vs b)". A different sha256 of the variant file is *not* a
reason to refuse: a nightly exists to catch what a new model does, so the row is compared and
notes "model changed".

Accuracy gate
-------------
A comparison fails on what got worse. A candidate variant outside the accuracy budget (the pick's
rule, benchlab.decide.pick.budget_judgement: accuracy_delta against its fp32 reference below
-budget_points, else top-1 agreement below 100 - budget_points percent, else the worst output's
cosine below min_cosine) fails the gate when it *newly* left the budget: its baseline measurement
was within it, not judged, or missing. One that was outside the budget in the baseline too is a
standing miss: reported ("outside budget since <run>", the first run of the unbroken streak in the
suite's history, else the baseline), never failing, so a nightly of a suite that shows a variant
outside its budget on purpose does not fail every night for a fact that has not changed. Its
accuracy dropping further beyond `accuracy_points` is still an accuracy regression. An absolute
gate, every variant outside the budget failing, is the suite's `accuracy.absolute_gate: true` or
compare's `--absolute-accuracy-gate`.

The machine's shift and provisional verdicts
-------------------------------------------
Rows of one device · accelerator whose variant files did not change are each other's controls
(benchlab.nightly.controls): their median shift beyond the latency threshold is reported once as
the machine's ("host · cpu-t2 ran 35% slower overall"), and each row's latency is judged relative
to the other rows as well as alone; once the suite's history gives a row a floor relative to
them (three unchanged changes), it is judged by that relative change against that floor. A row
whose floor comes only from the runs' own repeats (no
history, no calibration) gets "regression (provisional)" instead of failing, naming what would
settle it (benchlab.metrics.change).

Thresholds come from the candidate run's suite (`regression:` section of the suite file) when it
has one, else the defaults of benchlab.plan.suite.RegressionSpec (the one definition of them);
`compare_runs(overrides=...)` (``--threshold``) wins.

Row statuses
------------
regression, improved, within threshold, unchanged, not significant, not significant (too few
samples), regression / improved (provisional): compared. failed: the candidate failed where the baseline succeeded (fails the check).
not comparable: <why>; not measured (the candidate is not ok without newly failing, e.g. both
unsupported, or there are no latencies); missing in candidate; new in candidate (also when the
baseline was not ok): reported, never a pass or a failure of their own. Any row may also carry an
accuracy-gate failure.

Op placement
------------
Where both runs recorded an op profile (the op-profiling pass), a compared row whose ops that
fell back to the CPU differ notes "placement changed: SOFTMAX now on CPU" (or "... back on the
accelerator"). It is a note, not a failure: a suite with `scenario.require_full_delegation` has
already failed the candidate job itself, which makes the row "failed".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


from benchlab.errors import EXIT_GATE_FAILED, EXIT_OK, StoreError
from benchlab.metrics import headline, registered
from benchlab.metrics.change import (  # noqa: F401 - the row statuses are part of this module's API
    FAILED,
    IMPROVED,
    PROVISIONAL_IMPROVED,
    PROVISIONAL_REGRESSION,
    MISSING,
    NEW,
    NOT_COMPARABLE,
    NOT_MEASURED,
    NOT_SIGNIFICANT,
    REGRESSION,
    SKIPPED_STATUSES,
    TOO_FEW_SAMPLES,
    UNCHANGED,
    WITHIN_THRESHOLD,
    ChangeContext,
    MetricChange,
)
from benchlab.nightly.controls import RowControls, control_shift_log, machine_shifts, rows_controls
from benchlab.nightly.noise import MIN_CHANGES, floor_columns, relative_noise_floors, unchanged_changes
from benchlab.nightly.sustained_compare import SustainedChange, compare_sustained
from benchlab.nightly.thresholds import with_overrides
from benchlab.plan.suite import RegressionSpec
from benchlab.records import Measurement, describe_ops
from benchlab.results.history import SERIES, runs_before
from benchlab.results.run_record import RunRecord
from benchlab.decide.pick import DEFAULT_ACCURACY, NOT_JUDGED, budget_judgement

if TYPE_CHECKING:
    import pandas as pd

Key = tuple[str, str, str, str]
#: Count labels of CompareResult.counts besides the row statuses.
ACCURACY_GATE_FAILED = "accuracy gate failed"
STANDING_MISS = "outside accuracy budget (standing, not gated)"
#: Run-to-run noise floors in percent: per metric name, per row key (benchlab.nightly.noise).
NoiseFloors = Mapping[str, Mapping[Key, float]]


@dataclass(frozen=True)
class Comparison:
    """One (model, variant, device, accelerator) in the baseline and the candidate run."""

    model: str
    variant: str
    device_id: str
    accelerator: str
    status: str
    reason: str = ""
    #: How each compared metric changed, by metric name, in the registry's order.
    changes: dict[str, MetricChange] = field(default_factory=dict, hash=False)
    model_changed: bool = False
    #: Why the candidate newly left the accuracy budget (fails the check), None when it did not.
    accuracy_gate: str | None = None
    #: A standing miss: "outside budget since RUN: <figure>" (reported, never fails), None when none.
    accuracy_standing: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Return a readable one-line name: model/variant on device · accelerator."""
        return f"{self.model}/{self.variant} on {self.device_id} · {self.accelerator}"

    @property
    def label(self) -> str:
        """Return the status with its reason, e.g. "not comparable: os_version differs (14 vs 15)"."""
        return f"{self.status}: {self.reason}" if self.reason else self.status

    @property
    def metrics(self) -> tuple[MetricChange, ...]:
        """Return the metrics that were compared, in the registry's order."""
        return tuple(self.changes.values())

    def change(self, metric: str) -> MetricChange | None:
        """Return how the metric of that name changed, None when it was not compared."""
        return self.changes.get(metric)

    @property
    def headline(self) -> MetricChange | None:
        """Return the headline metric's change (latency), None when the row was not compared."""
        return self.changes.get(headline().name)

    @property
    def failed(self) -> bool:
        """Whether this row fails the check: a regression, a new failure or a broken accuracy budget."""
        return self.status in (REGRESSION, FAILED) or self.accuracy_gate is not None


@dataclass(frozen=True)
class CompareResult:
    """Every comparison of a candidate run against a baseline run, and the verdict."""

    baseline_run: str
    candidate_run: str
    baseline_dir: Path
    candidate_dir: Path
    thresholds: RegressionSpec
    budget_points: float | None
    comparisons: tuple[Comparison, ...]
    notes: tuple[str, ...] = ()
    #: The sustained sessions of both runs side by side (benchlab.nightly.sustained_compare); never gated.
    sustained: tuple[SustainedChange, ...] = ()

    @property
    def failures(self) -> tuple[Comparison, ...]:
        """Return the rows that fail the check."""
        return tuple(c for c in self.comparisons if c.failed)

    @property
    def verdict(self) -> int:
        """Return the exit code: 1 when any row fails the check, else 0."""
        return EXIT_GATE_FAILED if self.failures else EXIT_OK

    def counts(self) -> dict[str, int]:
        """Return how many rows have each status (accuracy-gate failures and standing misses counted separately)."""
        counts: dict[str, int] = {}
        for c in self.comparisons:
            counts[c.status] = counts.get(c.status, 0) + 1
        for label, found in ((ACCURACY_GATE_FAILED, sum(c.accuracy_gate is not None for c in self.comparisons)),
                             (STANDING_MISS, sum(c.accuracy_standing is not None for c in self.comparisons))):
            if found:
                counts[label] = found
        return counts

    @property
    def verdict_text(self) -> str:
        """Return a one-line verdict, e.g. "FAIL: 1 regression, 1 accuracy gate failed (of 6)"."""
        counts = self.counts()
        failing = [(REGRESSION, "regression", "regressions"), (FAILED, "failed", "failed"),
                   (ACCURACY_GATE_FAILED, ACCURACY_GATE_FAILED, ACCURACY_GATE_FAILED)]
        parts = [f"{counts[key]} {one if counts[key] == 1 else many}" for key, one, many in failing if counts.get(key)]
        compared = sum(c.headline is not None for c in self.comparisons)
        if parts:
            return f"FAIL: {', '.join(parts)} ({len(self.comparisons)} rows, {compared} latencies compared)"
        others = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return f"OK: no regression ({others})"


def _key(m: Measurement) -> Key:
    return (m.variant.model, m.variant.name, m.device.id, m.accelerator.name)


def _accelerator_setting(m: Measurement) -> dict[str, Any]:
    a = m.accelerator
    return {"kind": a.kind, "threads": a.threads, "xnnpack": a.xnnpack, "cpu_mask": a.cpu_mask,
            "options": a.options}


def not_comparable_reason(base: Measurement, cand: Measurement) -> str | None:
    """Return why two measurements of one key must not be compared, or None when they may be."""
    checks = (
        ("os_version", base.device.os_version, cand.device.os_version),
        ("runner", base.runner, cand.runner),
        ("runner_version", base.runner_version, cand.runner_version),
        ("recipe", base.variant.recipe, cand.variant.recipe),
        ("recipe options", base.variant.options, cand.variant.options),
        ("format", base.variant.format, cand.variant.format),
        ("accelerator setting", _accelerator_setting(base), _accelerator_setting(cand)),
    )
    for name, a, b in checks:
        if a != b:
            return f"{name} differs ({a} vs {b})"
    return None


def _eval_set_difference(model: str, base: RunRecord, cand: RunRecord) -> str | None:
    """Return why accuracies of `model` are not comparable between the runs, or None."""
    base_digest, cand_digest = base.eval_set_digest(model), cand.eval_set_digest(model)
    if base_digest and cand_digest:
        return None if base_digest == cand_digest else "the evaluation inputs or labels differ"
    base_spec, cand_spec = base.meta.suite.dataset, cand.meta.suite.dataset
    if base_spec is not None and cand_spec is not None and base_spec != cand_spec:
        return f"dataset differs ({base_spec} vs {cand_spec})"
    return None


def _budget_miss(row: Mapping[str, Any], budget_points: float, min_cosine: float) -> str | None:
    """Return why a results row (or one built like it) is outside the budget, None when it is within or
    nothing judges it."""
    within, reason = budget_judgement(row, budget_points, min_cosine)
    return None if within or reason.startswith(NOT_JUDGED) else reason


def accuracy_gate(m: Measurement, budget_points: float | None, min_cosine: float = DEFAULT_ACCURACY.min_cosine
                  ) -> str | None:
    """Return why a measurement is outside the accuracy budget, or None when it is not (or nothing
    judges it). The budget is the pick's (benchlab.decide.pick.budget_judgement): the accuracy
    delta, else top-1 agreement with the reference, else the worst output's cosine against `min_cosine`,
    so a broken int8 of a model run on synthetic data is outside it too."""
    if budget_points is None or m.status != "ok":
        return None
    fidelity = m.fidelity
    row = {"variant": m.variant.name, "fidelity_reference": fidelity.reference_variant if fidelity else None,
           "accuracy_delta": m.accuracy_delta, "fidelity_top1_agreement": fidelity.top1_agreement if fidelity else None,
           "fidelity_worst_cosine": fidelity.worst_cosine if fidelity else None}
    reason = _budget_miss(row, budget_points, min_cosine)
    if reason is None:
        return None
    return f"{reason} (against {fidelity.reference_variant})" if fidelity else reason


#: The columns of a history `outside_since` reads (benchlab.decide.pick.budget_judgement's).
STANDING_COLUMNS = ("status", "variant", "fidelity_reference", "accuracy_delta", "fidelity_top1_agreement",
                    "fidelity_worst_cosine")


def history_columns() -> tuple[str, ...]:
    """Return the columns of the suite's history `compare_runs` reads (load_history's `columns`): the
    noise floors' and the standing miss's."""
    return (*floor_columns(), *STANDING_COLUMNS)


def outside_since(key: Key, baseline_run: str, history: pd.DataFrame | None, budget_points: float,
                  min_cosine: float) -> str:
    """Return the run from which a row has been outside the budget without a break up to `baseline_run`
    (whose measurement is outside it): the first run of that streak in the suite's `history`
    (benchlab.results.history.load_history), `baseline_run` itself when the history does not hold it."""
    if history is None or history.empty or baseline_run not in set(history["run_id"]):
        return baseline_run
    last = int(history.loc[history["run_id"] == baseline_run, "run_order"].max())
    rows = history[(history["run_order"] <= last)
                   & (history[list(SERIES)].astype(str).agg("|".join, axis=1) == "|".join(key))]
    since = baseline_run
    for _, row in rows.sort_values("run_order", ascending=False).iterrows():
        if row["status"] != "ok" or _budget_miss(row, budget_points, min_cosine) is None:
            break
        since = str(row["run_id"])
    return since


def _flag_note(m: Measurement) -> tuple[str, ...]:
    return (f"candidate flagged: {', '.join(m.flags)}",) if m.flags else ()


def placement_change(base: Measurement, cand: Measurement) -> str | None:
    """Return "placement changed: X now on CPU[; Y back on the accelerator]" when the ops that fell
    back to the CPU differ between the two op profiles, else None (also when either has none)."""
    if not base.op_profile or not cand.op_profile:
        return None
    before, after = base.cpu_fallback_ops, cand.cpu_fallback_ops
    now_cpu = {op: after.get(op, 0) - before.get(op, 0) for op in after if after.get(op, 0) > before.get(op, 0)}
    back = {op: before[op] - after.get(op, 0) for op in before if before[op] > after.get(op, 0)}
    parts = ([f"{describe_ops(now_cpu)} now on CPU"] if now_cpu else []) + (
        [f"{describe_ops(back)} back on the accelerator"] if back else [])
    return f"placement changed: {'; '.join(parts)}" if parts else None


def metric_changes(base: Measurement, cand: Measurement, thresholds: RegressionSpec,
                   noise_floors: Mapping[str, float] | None = None,
                   eval_set_difference: str | None = None, latency_controls: RowControls | None = None,
                   nights_to_floor: int | None = None) -> dict[str, MetricChange]:
    """Return how each registered metric that compares changed between two ok measurements of one row.

    `noise_floors` gives the row's run-to-run noise floor in percent per metric name (missing: the
    metric's floor is provisional, from the repeats). `latency_controls` holds the median log shift
    of the headline metric of the row's controls, their count and the row's floor relative to them
    (benchlab.nightly.controls).
    """
    changes = {}
    for metric in registered():
        threshold = getattr(thresholds, metric.threshold.field) if metric.threshold is not None else 0.0
        controls = latency_controls if metric.headline else None
        context = ChangeContext(threshold=threshold, alpha=thresholds.alpha, min_repeats=thresholds.min_repeats,
                                noise_floor_pct=(noise_floors or {}).get(metric.name),
                                eval_set_difference=eval_set_difference,
                                control_shift_log=controls.shift_log if controls else None,
                                controls=controls.count if controls else 0,
                                relative_floor_pct=controls.relative_floor_pct if controls else None,
                                nights_to_floor=nights_to_floor)
        change = metric.change(base, cand, context)
        if change is not None:
            changes[metric.name] = change
    return changes


def compare_measurements(base: Measurement | None, cand: Measurement | None, thresholds: RegressionSpec,
                         budget_points: float | None = None, eval_set_difference: str | None = None,
                         noise_floors: Mapping[str, float] | None = None,
                         min_cosine: float = DEFAULT_ACCURACY.min_cosine, standing_since: str | None = None,
                         latency_controls: RowControls | None = None, nights_to_floor: int | None = None
                         ) -> Comparison:
    """Compare one key's baseline and candidate measurements (either may be missing).

    `noise_floors` holds the row's run-to-run noise floor per metric name (benchlab.nightly.noise).
    A gating metric's regression makes the row a regression; otherwise an improvement of one makes
    it improved; otherwise the row takes the headline metric's status (latency). `standing_since`
    names the run from which the row has been outside the accuracy budget (None: the baseline was
    within it, or the gate is absolute): a candidate still outside is then a standing miss, reported
    in `accuracy_standing` instead of failing `accuracy_gate`. `latency_controls` and
    `nights_to_floor` are metric_changes'. Raises ValueError when both are missing.
    """
    ref = cand or base
    if ref is None:
        raise ValueError("compare_measurements needs a baseline or a candidate measurement")
    ident: dict[str, Any] = {"model": ref.variant.model, "variant": ref.variant.name, "device_id": ref.device.id,
                             "accelerator": ref.accelerator.name}
    gate = accuracy_gate(cand, budget_points, min_cosine) if cand is not None else None
    if gate is not None and standing_since is not None:
        ident["accuracy_standing"], gate = f"outside budget since {standing_since}: {gate}", None
    if cand is None:
        return Comparison(**ident, status=MISSING, reason="measured in the baseline only")
    if base is None:
        return Comparison(**ident, status=NEW, reason="no baseline measurement", accuracy_gate=gate,
                          notes=_flag_note(cand))
    if cand.status != "ok":
        if base.status == "ok" and cand.status == "failed":
            return Comparison(**ident, status=FAILED, reason=cand.error or "failed", accuracy_gate=gate)
        return Comparison(**ident, status=NOT_MEASURED,
                          reason=f"baseline {base.status}, candidate {cand.status}: {cand.error or ''}".rstrip(": "))
    if base.status != "ok":
        return Comparison(**ident, status=NEW, reason=f"baseline {base.status}: {base.error or ''}".rstrip(": "),
                          accuracy_gate=gate, notes=_flag_note(cand))
    refusal = not_comparable_reason(base, cand)
    if refusal is not None:
        return Comparison(**ident, status=NOT_COMPARABLE, reason=refusal, accuracy_gate=gate)

    notes = list(_flag_note(cand))
    model_changed = base.variant.sha256 != cand.variant.sha256
    if model_changed:
        before, after = (base.variant.sha256 or "?")[:12], (cand.variant.sha256 or "?")[:12]
        notes.insert(0, f"model changed (sha256 {before} → {after})")
    placement = placement_change(base, cand)
    if placement is not None:  # a note: a suite that forbids fallback has failed the candidate already
        notes.append(placement)
    changes = metric_changes(base, cand, thresholds, noise_floors, eval_set_difference, latency_controls,
                             nights_to_floor)
    gating = [m for m in changes.values() if m.gates]
    regressed = [m for m in gating if m.status == REGRESSION]
    improved = [m for m in gating if m.status == IMPROVED]
    lead = changes.get(headline().name)
    if regressed:
        status, reason = REGRESSION, ", ".join(m.metric for m in regressed)
    elif improved:
        status, reason = IMPROVED, ", ".join(m.metric for m in improved)
    elif lead is not None:
        status, reason = lead.status, lead.reason
    else:
        status, reason = NOT_MEASURED, f"no {headline().label} to compare"
    return Comparison(**ident, status=status, reason=reason, changes=changes, model_changed=model_changed,
                      accuracy_gate=gate, notes=tuple(notes))


def _by_key(measurements: Sequence[Measurement]) -> dict[Key, Measurement]:
    found: dict[Key, Measurement] = {}
    for m in measurements:
        found[_key(m)] = m  # a resumed run never repeats a job; if it did, the later one counts
    return found


def _control_shifts(base: Mapping[Key, Measurement], cand: Mapping[Key, Measurement]) -> dict[Key, float]:
    """Return the headline metric's log shift of every row that can be a control: ok on both sides,
    comparable, and the same variant file (benchlab.nightly.controls)."""
    lead = headline()
    shifts = {}
    for key in (k for k in cand if k in base):  # in the candidate's order, so notes come in a stable order
        b, c = base[key], cand[key]
        if (b.status == c.status == "ok" and not_comparable_reason(b, c) is None
                and b.variant.sha256 == c.variant.sha256):
            shift = control_shift_log(lead.repeat_values(b), lead.repeat_values(c))
            if shift is not None:
                shifts[key] = shift
    return shifts


def compare_runs(baseline: RunRecord | Path | str, candidate: RunRecord | Path | str,
                 thresholds: RegressionSpec | None = None, overrides: dict[str, float] | None = None,
                 noise_floors: NoiseFloors | None = None, absolute_accuracy_gate: bool | None = None,
                 history: pd.DataFrame | None = None) -> CompareResult:
    """Compare every measurement of the candidate run with the baseline run's.

    Thresholds default to the candidate suite's `regression` section (else `RegressionSpec()`), with
    `overrides` (field name -> value, e.g. from ``--threshold latency_pct=20``) applied on top; the
    accuracy budget is the candidate suite's `accuracy.budget_points`. `noise_floors` gives each
    row's run-to-run noise floor in percent per metric name (benchlab.nightly.noise).
    `absolute_accuracy_gate` (None: the candidate suite's `accuracy.absolute_gate`) fails every
    variant outside the budget, also a standing miss; `history` (the suite's runs,
    benchlab.results.history.load_history) dates a standing miss. Raises StoreError when either is
    not a run, both are the same run, or no measurement of one matches a measurement of the other.
    """
    base_run = baseline if isinstance(baseline, RunRecord) else RunRecord.load(baseline)
    cand_run = candidate if isinstance(candidate, RunRecord) else RunRecord.load(candidate)
    if base_run.directory.resolve() == cand_run.directory.resolve():
        raise StoreError(f"baseline and candidate are the same run ({base_run.directory})",
                         hint="pass an earlier run as the baseline")
    cand_suite = cand_run.meta.suite
    thresholds = thresholds or cand_suite.regression
    if overrides:
        thresholds = with_overrides(thresholds, overrides)
    budget, min_cosine = cand_suite.accuracy.budget_points, cand_suite.accuracy.min_cosine
    if absolute_accuracy_gate is None:
        absolute_accuracy_gate = cand_suite.accuracy.absolute_gate
    base, cand = _by_key(base_run.measurements), _by_key(cand_run.measurements)
    if not set(base) & set(cand):
        raise StoreError(
            f"nothing to compare: no measurement of {base_run.run_id} ({len(base)}) has the model, variant, "
            f"device and accelerator of one of {cand_run.run_id} ({len(cand)})",
            hint="compare two runs of the same suite on the same devices",
        )
    shifts = _control_shifts(base, cand)
    notes = [shift.describe() for shift in machine_shifts(shifts, thresholds.latency_pct)]
    before_candidate = runs_before(history, cand_run.run_id) if history is not None else None
    earlier = unchanged_changes(before_candidate) if before_candidate is not None else {}
    relative_floors = relative_noise_floors(before_candidate) if before_candidate is not None else {}
    if base_run.meta.suite_name != cand_run.meta.suite_name:
        notes.append(f"suites differ ({base_run.meta.suite_name} vs {cand_run.meta.suite_name})")
    eval_differences: dict[str, str | None] = {}
    comparisons = []
    keys = [*cand, *(k for k in base if k not in cand)]
    controls = rows_controls(keys, shifts, relative_floors)
    for key in keys:
        model = key[0]
        if model not in eval_differences:
            eval_differences[model] = _eval_set_difference(model, base_run, cand_run)
        row_floors = {metric: floors[key] for metric, floors in (noise_floors or {}).items() if key in floors}
        before = base.get(key)
        standing = (outside_since(key, base_run.run_id, history, budget, min_cosine)
                    if budget is not None and not absolute_accuracy_gate and before is not None
                    and accuracy_gate(before, budget, min_cosine) is not None else None)
        comparisons.append(compare_measurements(before, cand.get(key), thresholds, budget,
                                                eval_differences[model], row_floors, min_cosine, standing,
                                                controls[key],
                                                max(MIN_CHANGES - len(earlier.get(key, ())), 1)))
    return CompareResult(
        baseline_run=base_run.run_id, candidate_run=cand_run.run_id,
        baseline_dir=base_run.directory, candidate_dir=cand_run.directory, thresholds=thresholds,
        budget_points=budget, comparisons=tuple(comparisons), notes=tuple(notes),
        sustained=compare_sustained(base_run.directory, cand_run.directory),
    )
