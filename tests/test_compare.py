"""Baseline vs candidate: regressions only when significant and beyond threshold, noise never flagged.

Synthetic nights are written with the real store (RunStore + Measurement), so these tests exercise
what `benchlab compare` reads. Helpers here (`measurement`, `write_run`) are shared with
test_check.py and test_ci_outputs.py.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchlab.nightly.compare import (
    FAILED,
    IMPROVED,
    MISSING,
    NEW,
    NOT_COMPARABLE,
    NOT_SIGNIFICANT,
    PROVISIONAL_REGRESSION,
    REGRESSION,
    TOO_FEW_SAMPLES,
    WITHIN_THRESHOLD,
    compare_runs,
)
from benchlab.metrics.change import ChangeContext
from benchlab.metrics.latency import latency_change
from benchlab.metrics.stats import hodges_lehmann, kth_pairwise_difference
from benchlab.errors import StoreError
from benchlab.nightly.noise import write_calibration
from benchlab.plan.suite import RegressionSpec
from benchlab.results.history import latest_before, list_runs, load_history, resolve_run
from benchlab.records import AcceleratorSetting, Conditions, DeviceInfo, Fidelity, Measurement, Variant
from benchlab.results.run_meta import RunMeta, StoredSuite
from benchlab.results.store import RunStore

TRIALS = 200
#: Repeats per synthetic run: what the trial tests compare (the repeat is the unit).
REPEATS = 10


def latencies(rng: np.random.Generator, count: int, median_us: float = 2000.0) -> tuple[float, ...]:
    """Phone-like latencies: log-normal spread of 5% plus a 3% right tail of 1.5-3x hiccups."""
    values = median_us * rng.lognormal(0.0, 0.05, count)
    hiccups = rng.random(count) < 0.03
    values[hiccups] *= rng.uniform(1.5, 3.0, hiccups.sum())
    return tuple(float(v) for v in values)


def repeats(rng: np.random.Generator, count: int = REPEATS, median_us: float = 2000.0,
            between: float = 0.05, iterations: int = 20) -> tuple[tuple[float, ...], ...]:
    """Hierarchical latencies shaped like this machine's: each repeat (one process) has its own
    centre, log-normal with a 5% spread between repeats (6-7% measured here at 1 thread), and its
    iterations spread 1% around it with phone-like hiccups. Iterations of a repeat are not
    independent draws of the run's distribution: that is the point."""
    centres = median_us * rng.lognormal(0.0, between, count)
    return tuple(tuple(float(v) for v in c * rng.lognormal(0.0, 0.01, iterations)) for c in centres)


def measurement(samples_us: tuple[float, ...] | tuple[tuple[float, ...], ...], *, model: str = "mobilenet",
                variant: str = "fp16", recipe: str | None = None, device_id: str = "pixel7",
                os_version: str = "14/UQ1A", runner: str = "benchmark_model", runner_version: str = "2.16.1",
                accelerator: str = "cpu-t4", kind: str = "cpu", threads: int | None = 4, size_bytes: int = 4_000_000,
                sha256: str = "ab" * 32, peak_memory_mb: float | None = 50.0, accuracy: float | None = 71.0,
                accuracy_delta: float | None = -0.2, status: str = "ok", error: str | None = None,
                flags: tuple[str, ...] = (), delegate_applied: str | None = None, tier: str = "mid",
                platform: str = "android", thermal: tuple[int, int] | None = None,
                fidelity: Fidelity | None = None, runner_stats: tuple[dict, ...] = ()) -> Measurement:
    """A stored-shape Measurement; samples given flat are one repeat."""
    repeats = samples_us if samples_us and isinstance(samples_us[0], tuple) else (samples_us,) if samples_us else ()
    recipe = recipe or variant
    return Measurement(
        job_id=f"{model}.{variant}.{device_id}.{accelerator}", run_id="?", suite="nightly",
        variant=Variant(model=model, name=variant, recipe=recipe, format="tflite", status="built",
                        sha256=sha256, size_bytes=size_bytes, is_reference=recipe == "fp32"),
        device=DeviceInfo(id=device_id, platform=platform, model="Pixel 7", os_version=os_version, tier=tier),
        accelerator=AcceleratorSetting(name=accelerator, kind=kind, threads=threads),
        status=status, error=error, runner=runner, runner_version=runner_version,  # type: ignore[arg-type]
        samples_us=repeats, peak_memory_mb=peak_memory_mb, accuracy_metric="top1" if accuracy is not None else None,
        accuracy=accuracy, accuracy_delta=accuracy_delta, flags=flags, delegate_applied=delegate_applied,
        fidelity=fidelity, runner_stats=runner_stats,
        conditions_before=Conditions(timestamp=0.0, thermal_status=thermal[0]) if thermal else None,
        conditions_after=Conditions(timestamp=1.0, thermal_status=thermal[1]) if thermal else None,
    )


def write_run(root: Path, run_id: str, measurements: list[Measurement], *, suite_name: str = "nightly",
              started_at: str = "2026-11-01T02:00:00+00:00", finished: bool = True,
              suite: dict | None = None, devices: Sequence[DeviceInfo] = ()) -> Path:
    """Write a run directory the way pipeline.run_suite does: run.json, then one record per job."""
    store = RunStore(root / run_id)
    suite_dict = {"name": suite_name, "accuracy": {"top_k": 1, "budget_points": 1.0}, "dataset": {"builtin": "mnist"},
                  **(suite or {})}
    store.create(RunMeta(suite_name=suite_name, suite=StoredSuite.from_json(suite_dict), harness_version="0.1.0",
                         devices=tuple(devices), started_at=started_at, finished_at=started_at if finished else None))
    for m in measurements:
        store.append(replace(m, run_id=run_id))
    return store.directory


def night(root: Path, run_id: str, day: int, *ms: Measurement, **kwargs) -> Path:  # type: ignore[no-untyped-def]
    return write_run(root, run_id, list(ms), started_at=f"2026-11-{day:02d}T02:00:00+00:00", **kwargs)


KEY = ("mobilenet", "fp16", "pixel7", "cpu-t4")


def outcome(tmp_path: Path, trial: int, base: tuple[tuple[float, ...], ...], cand: tuple[tuple[float, ...], ...],
            noise_floor_pct: float | None = None) -> str:
    """The verdict on one synthetic night pair; `noise_floor_pct` as history or calibration measured it."""
    root = tmp_path / f"trial{trial}"
    b = night(root, "base", 1, measurement(base))
    c = night(root, "cand", 2, measurement(cand))
    floors = {"latency": {KEY: noise_floor_pct}} if noise_floor_pct is not None else None
    (comparison,) = compare_runs(b, c, noise_floors=floors).comparisons
    return comparison.status


def test_same_distribution_flags_a_regression_in_at_most_5_percent_of_200_trials(tmp_path: Path) -> None:
    rng = np.random.default_rng(20261101)
    statuses = [outcome(tmp_path, t, repeats(rng), repeats(rng)) for t in range(TRIALS)]
    assert statuses.count(REGRESSION) <= 0.05 * TRIALS
    assert statuses.count(IMPROVED) <= 0.05 * TRIALS  # nor a win out of noise
    significant = TRIALS - statuses.count(NOT_SIGNIFICANT)
    assert significant <= 0.10 * TRIALS, "the test's false-positive rate should be near alpha = 5%"


def test_a_10_percent_slowdown_is_detected_in_at_least_95_percent_of_200_trials(tmp_path: Path) -> None:
    """Where history measured this row's run-to-run noise at 6% (below the 10% change)."""
    rng = np.random.default_rng(20261102)
    statuses = [outcome(tmp_path, t, repeats(rng), repeats(rng, median_us=2200.0), noise_floor_pct=6.0)
                for t in range(TRIALS)]
    assert statuses.count(REGRESSION) >= 0.95 * TRIALS


def test_without_history_a_change_within_the_repeats_noise_is_not_called(tmp_path: Path) -> None:
    """No history yet: the floor is provisional, from the runs' own repeats (5% apart here: about ±15%)."""
    rng = np.random.default_rng(20261104)
    b = night(tmp_path, "base", 1, measurement(repeats(rng)))
    c = night(tmp_path, "cand", 2, measurement(repeats(rng, median_us=2200.0)))
    (row,) = compare_runs(b, c).comparisons
    assert row.change("latency").noise_floor_source == "repeats" and 10 < row.change("latency").noise_floor_pct < 25
    assert row.status == NOT_SIGNIFICANT and row.change("latency").mdc_pct >= row.change("latency").noise_floor_pct
    assert "no run history yet: `benchlab calibrate` measures it" in row.change("latency").reason or \
        row.change("latency").reason.startswith("within ±")


def test_iterations_of_one_process_do_not_make_a_between_run_shift_significant(tmp_path: Path) -> None:
    """Two runs whose repeats differ by chance: with 1,000 iterations each, an iteration-level test
    would call the shift certain; at the repeat level it is what it is, noise."""
    rng = np.random.default_rng(20261103)
    flagged = 0
    for t in range(TRIALS):
        base = repeats(rng, count=6, iterations=200)
        cand = repeats(rng, count=6, iterations=200)
        flagged += outcome(tmp_path, t, base, cand) in (REGRESSION, IMPROVED)
    assert flagged <= 0.05 * TRIALS


def test_a_10_percent_speedup_is_improved_never_a_regression() -> None:
    rng = np.random.default_rng(3)
    change = latency_change(latencies(rng, 200), latencies(rng, 200, median_us=1800.0),
                            ChangeContext(threshold=5.0, noise_floor_pct=3.0))
    assert change.status == IMPROVED
    assert change.ci_high < 0 and change.change == pytest.approx(-10, abs=2)


def test_a_significant_change_inside_the_threshold_is_not_a_regression() -> None:
    rng = np.random.default_rng(4)
    change = latency_change(latencies(rng, 3000), latencies(rng, 3000, median_us=2040.0),  # +2%
                            ChangeContext(threshold=5.0, noise_floor_pct=1.0))
    assert change.p_value < 1e-6 and change.ci_low > 0
    assert change.status == WITHIN_THRESHOLD


def test_few_repeats_are_not_significant_even_for_a_large_change(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    b = night(tmp_path, "base", 1, measurement(repeats(rng, count=3, iterations=500)))
    c = night(tmp_path, "cand", 2, measurement(repeats(rng, median_us=3000.0)))  # +50%, 3 baseline repeats
    result = compare_runs(b, c)
    (comparison,) = result.comparisons
    assert comparison.status == TOO_FEW_SAMPLES
    assert comparison.change("latency") is not None and comparison.change("latency").change > 30  # reported, not silenced
    assert comparison.change("latency").reason == "3 repeat(s) on a side, at least 5 needed: raise scenario.repeats"
    assert result.verdict == 0


def test_a_change_within_the_noise_floor_is_not_a_regression_and_every_row_states_its_mdc(tmp_path: Path) -> None:
    rng = np.random.default_rng(24)
    b = night(tmp_path, "base", 1, measurement(repeats(rng, between=0.01)))
    c = night(tmp_path, "cand", 2, measurement(repeats(rng, median_us=2300.0, between=0.01)))  # +15%, tight repeats
    key = ("mobilenet", "fp16", "pixel7", "cpu-t4")
    (quiet,) = compare_runs(b, c, noise_floors={"latency": {key: 3.0}}).comparisons  # history: ±3% run to run
    assert quiet.status == REGRESSION and quiet.change("latency").mdc_pct < 5
    (noisy,) = compare_runs(b, c, noise_floors={"latency": {key: 20.0}}).comparisons  # this device moves ±20% run to run
    assert noisy.status == NOT_SIGNIFICANT and noisy.change("latency").noise_floor_pct == 20.0
    assert noisy.change("latency").reason == "within ±20.0% run-to-run noise of this device"
    # What lands beyond a ±20% floor 80% of the time: 1.2 ** ((1.96 + 0.84) / 1.96), not the floor itself.
    assert noisy.change("latency").mdc_pct == pytest.approx(29.8, abs=0.1)


@pytest.mark.parametrize(("at", "called"), [("floor", (0.4, 0.6)), ("mdc", (0.75, 0.87))])
def test_a_change_at_the_mdc_is_called_with_its_power_one_at_the_floor_half_the_time(at: str, called: tuple) -> None:
    """Runs that move by 6% (sd of log latency) between nights give a history floor of z_0.975 * 6%:
    a true change of that size lands beyond it half the time; the MDC each row states is the change
    called 80% of the time (seeded, 400 pairs of tight-repeat runs)."""
    rng = np.random.default_rng(20261207)
    floor = 100 * np.expm1(1.959964 * 0.06)
    mdc = latency_change([1.0] * 6, [1.0, 1.0, 1.0, 1.0, 1.0, 1.01], ChangeContext(5.0, noise_floor_pct=floor)).mdc_pct
    true_change = floor if at == "floor" else mdc
    hits = 0
    for _ in range(400):
        night = np.exp(rng.normal(0.0, 0.06))  # what moved the candidate's whole run
        base = 2000.0 * rng.lognormal(0.0, 0.005, 6)
        cand = 2000.0 * (1 + true_change / 100) * night * rng.lognormal(0.0, 0.005, 6)
        hits += latency_change(list(base), list(cand), ChangeContext(5.0, noise_floor_pct=floor)).status == REGRESSION
    assert called[0] <= hits / 400 <= called[1]


def night_pair(rng: np.random.Generator, machine: float, slowed: dict[str, float] | None = None,
               variants: tuple[str, ...] = ("fp32", "fp16", "dynamic-int8", "full-int8"),
               between: float = 0.05) -> tuple[list[Measurement], list[Measurement]]:
    """Two runs of four variants on one device · accelerator, the second on a machine `machine` times as
    slow (a shared drift of every repeat), some variants also slowed by their own factor."""
    base, cand = [], []
    for index, variant in enumerate(variants):
        median = 1000.0 * (index + 1)
        base.append(measurement(repeats(rng, median_us=median, between=between), variant=variant))
        factor = machine * (slowed or {}).get(variant, 1.0)
        cand.append(measurement(repeats(rng, median_us=median * factor, between=between), variant=variant))
    return base, cand


def test_rows_that_shift_together_are_the_machines_shift_not_regressions(tmp_path: Path) -> None:
    rng = np.random.default_rng(30)
    base, cand = night_pair(rng, machine=1.35)
    floors = {"latency": {("mobilenet", m.variant.name, "pixel7", "cpu-t4"): 8.0 for m in base}}  # history: ±8%
    result = compare_runs(night(tmp_path, "b", 1, *base), night(tmp_path, "c", 2, *cand), noise_floors=floors)
    assert result.verdict == 0 and {c.status for c in result.comparisons} == {NOT_SIGNIFICANT}
    (note,) = result.notes
    assert note.startswith("pixel7 · cpu-t4 ran 3") and "% slower overall (median change of its 4 rows" in note
    latency = result.comparisons[0].change("latency")
    assert latency.change > 25 and abs(latency.relative_change_pct) < 10 and latency.controls == 3
    assert latency.reason.startswith("moved with its device: +") and "relative to the 3 other row(s)" in latency.reason


def test_a_25_percent_slowdown_of_one_variant_among_unchanged_ones_is_caught_across_runs(tmp_path: Path) -> None:
    """Where history gives the rows a floor (±8%) and the device itself ran 10% slower that night."""
    rng = np.random.default_rng(31)
    caught = 0
    for trial in range(40):
        base, cand = night_pair(rng, machine=1.10, slowed={"full-int8": 1.25})
        floors = {"latency": {("mobilenet", m.variant.name, "pixel7", "cpu-t4"): 8.0 for m in base}}
        result = compare_runs(night(tmp_path / str(trial), "b", 1, *base), night(tmp_path / str(trial), "c", 2, *cand),
                              noise_floors=floors)
        statuses = {c.variant: c.status for c in result.comparisons}
        caught += statuses["full-int8"] == REGRESSION
        assert all(statuses[v] != REGRESSION for v in ("fp32", "fp16", "dynamic-int8")), statuses
    assert caught >= 0.9 * 40


def test_with_history_a_row_is_judged_relative_to_its_controls_against_its_relative_floor(tmp_path: Path) -> None:
    """Five earlier nights on a machine that moves 25% (sd of log) from run to run, shared by its rows:
    alone, no row's floor lets a 25% slowdown through; relative to the other rows the machine
    cancels, and the slowed variant fails while the unchanged ones do not (seeded, 8 trials)."""
    rng = np.random.default_rng(34)
    variants = ("fp32", "fp16", "dynamic-int8", "full-int8")
    caught = 0
    for trial in range(8):
        root = tmp_path / str(trial)
        for day in range(1, 7):
            machine = float(np.exp(rng.normal(0.0, 0.25)))
            night(root, f"n{day}", day, *(measurement(repeats(rng, count=6, median_us=1000.0 * (i + 1) * machine,
                                                              between=0.03), variant=v) for i, v in enumerate(variants)))
        machine = float(np.exp(rng.normal(0.0, 0.25)))
        cand = night(root, "n7", 7, *(measurement(repeats(rng, count=6, median_us=1000.0 * (i + 1) * machine
                                                          * (1.25 if v == "full-int8" else 1.0), between=0.03),
                                                  variant=v) for i, v in enumerate(variants)))
        result = compare_runs(root / "n6", cand, history=load_history(root, "nightly"))
        rows = {c.variant: c for c in result.comparisons}
        assert all(not rows[v].failed for v in variants[:3]), [rows[v].label for v in variants]
        latency = rows["full-int8"].change("latency")
        assert latency.noise_floor_source == "history, relative to the other rows" and latency.controls == 3
        caught += rows["full-int8"].status == REGRESSION
    assert caught >= 7


def test_without_history_a_floor_from_the_repeats_gives_provisional_verdicts_that_do_not_fail(tmp_path: Path) -> None:
    rng = np.random.default_rng(32)
    base, cand = night_pair(rng, machine=1.0, slowed={"full-int8": 1.4}, between=0.02)
    night(tmp_path, "n0", 1, *base)  # one earlier night: one unchanged change of history, MIN_CHANGES is 3
    b, c = night(tmp_path, "n1", 2, *base), night(tmp_path, "n2", 3, *cand)
    result = compare_runs(b, c, history=load_history(tmp_path, "nightly"))
    row = next(r for r in result.comparisons if r.variant == "full-int8")
    assert row.status == PROVISIONAL_REGRESSION and not row.failed and result.verdict == 0
    assert row.reason.startswith("beyond ±") and row.reason.endswith(
        "of the runs' own repeats, which do not see what moves a whole run; `benchlab calibrate SUITE` or 2 more "
        "night(s) of history settles it")
    # A change beyond any run-to-run spread measured here fails even on a first night.
    base, cand = night_pair(rng, machine=1.0, slowed={"full-int8": 3.0})
    result = compare_runs(night(tmp_path, "x1", 4, *base), night(tmp_path, "x2", 5, *cand))
    assert [r.variant for r in result.failures] == ["full-int8"] and result.failures[0].status == REGRESSION


def test_first_nights_of_an_unchanged_suite_flag_at_most_1_in_20_rows(tmp_path: Path) -> None:
    """Six back-to-back unchanged runs, no history used and no calibration, each run on a machine that
    drifts by 25% (sd of log) from run to run, shared by its rows: the verdicts of consecutive pairs."""
    rng = np.random.default_rng(33)
    flagged = verdicts = 0
    for trial in range(10):
        runs = [night(tmp_path / str(trial), f"r{i}", i + 1,
                      *night_pair(rng, machine=float(np.exp(rng.normal(0, 0.25))))[1]) for i in range(6)]
        for before, after in zip(runs, runs[1:]):
            result = compare_runs(before, after)
            verdicts += len(result.comparisons)
            flagged += sum(c.status in (REGRESSION, IMPROVED) for c in result.comparisons)
    assert flagged <= verdicts / 20


def repeat_stats(rng: np.random.Generator, repeats: int, median_us: float) -> tuple[dict, ...]:
    """What benchmark_model leaves per repeat: statistics only, no per-iteration times."""
    return tuple({"count": 50, "avg_us": m * 1.02, "median_us": m} for m in latencies(rng, repeats, median_us))


def test_runner_repeat_medians_are_compared_when_there_are_enough(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    b = night(tmp_path, "base", 1, measurement((), runner_stats=repeat_stats(rng, 3, 2000.0)),
              measurement((), device_id="a15", runner_stats=repeat_stats(rng, 12, 9000.0)))
    c = night(tmp_path, "cand", 2, measurement((), runner_stats=repeat_stats(rng, 3, 3000.0)),
              measurement((), device_id="a15", runner_stats=repeat_stats(rng, 12, 10800.0)))
    few, enough = compare_runs(b, c, noise_floors={"latency": {("mobilenet", "fp16", "a15", "cpu-t4"): 8.0}}).comparisons
    assert few.status == TOO_FEW_SAMPLES and few.change("latency").sample_kind == "repeat medians"
    assert few.change("latency").reason == "3 repeat(s) on a side, at least 5 needed: raise scenario.repeats"
    assert enough.status == REGRESSION and enough.change("latency").n_candidate == 12
    assert enough.change("latency").change == pytest.approx(20, abs=6)


def test_a_short_history_has_no_latest_baseline_and_says_so(tmp_path: Path) -> None:
    only = night(tmp_path, "first", 1, measurement(repeats(np.random.default_rng(6))))
    with pytest.raises(StoreError, match="no earlier finished run of suite 'nightly'"):
        latest_before(only, tmp_path)


@pytest.mark.parametrize(("field", "base_value", "cand_value"), [
    ("os_version", "14/UQ1A", "15/AP3A"),
    ("runner_version", "2.16.1", "2.17.0"),
    ("runner", "benchmark_model", "litert-python"),
    ("recipe", "fp16", "dynamic-int8"),
])
def test_measurements_that_differ_in_checked_metadata_are_not_comparable(
        tmp_path: Path, field: str, base_value: str, cand_value: str) -> None:
    rng = np.random.default_rng(7)
    b = night(tmp_path, "base", 1, measurement(repeats(rng), **{field: base_value}))
    c = night(tmp_path, "cand", 2, measurement(repeats(rng, median_us=4000.0), **{field: cand_value}))
    result = compare_runs(b, c)
    (comparison,) = result.comparisons
    assert comparison.status == NOT_COMPARABLE
    assert comparison.label == f"not comparable: {field} differs ({base_value} vs {cand_value})"
    assert comparison.change("latency") is None and result.verdict == 0  # a 2x change, but not comparable: not compared


def test_a_changed_model_is_compared_and_noted(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    b = night(tmp_path, "base", 1, measurement(repeats(rng), sha256="aa" * 32))
    c = night(tmp_path, "cand", 2, measurement(repeats(rng, median_us=2600.0), sha256="bb" * 32))
    (comparison,) = compare_runs(b, c, noise_floors={"latency": {KEY: 6.0}}).comparisons
    assert comparison.model_changed and comparison.status == REGRESSION
    assert comparison.notes[0] == "model changed (sha256 aaaaaaaaaaaa → bbbbbbbbbbbb)"


def by_repeat(m: Measurement, peaks_mb: Sequence[float]) -> list[Measurement]:
    """The stored records of `m`, one per repeat as the executor stores them, each with its own peak memory."""
    return [replace(m, repeat=i, samples_us=(samples,), peak_memory_mb=peak)
            for i, (samples, peak) in enumerate(zip(m.samples_us, peaks_mb, strict=True))]


def test_size_memory_and_accuracy_are_held_to_their_thresholds(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    samples = repeats(rng)
    peaks = 50.0 * rng.lognormal(0.0, 0.005, REPEATS)  # one process's peak varies little between processes
    b = night(tmp_path, "base", 1, *by_repeat(measurement(samples, size_bytes=1_000_000, accuracy=71.0), peaks))
    c = night(tmp_path, "cand", 2, *by_repeat(measurement(samples, size_bytes=1_020_000, accuracy=70.0), peaks * 1.06))
    (comparison,) = compare_runs(b, c).comparisons
    assert comparison.status == REGRESSION and comparison.reason == "size, accuracy"
    assert comparison.change("size").change == pytest.approx(2.0) and comparison.change("size").status == REGRESSION
    memory = comparison.change("memory")  # compared at the repeat level, like latency
    assert memory.change == pytest.approx(6.0, abs=0.5) and memory.status == WITHIN_THRESHOLD
    assert memory.n_baseline == memory.n_candidate == REPEATS and memory.p_value < 0.05
    assert comparison.change("accuracy").change == pytest.approx(-1.0) and comparison.change("accuracy").change_unit == "points"
    assert comparison.change("latency").status == NOT_SIGNIFICANT  # identical samples


def test_peak_memory_regresses_at_the_repeat_level_against_its_floor(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    samples = repeats(rng)
    peaks = 50.0 * rng.lognormal(0.0, 0.005, REPEATS)
    b = night(tmp_path, "base", 1, *by_repeat(measurement(samples), peaks))
    c = night(tmp_path, "cand", 2, *by_repeat(measurement(samples), peaks * 1.25))
    alone = compare_runs(b, c).comparisons[0].change("memory")
    assert alone.status == PROVISIONAL_REGRESSION  # no run-to-run floor yet: reported, never failing
    (comparison,) = compare_runs(b, c, noise_floors={"memory": {KEY: 3.0}}).comparisons
    assert comparison.change("memory").status == REGRESSION and comparison.status == REGRESSION
    assert comparison.reason == "peak memory"
    one_peak = compare_runs(night(tmp_path, "b1", 3, measurement(samples)), night(tmp_path, "c1", 4, measurement(
        samples, peak_memory_mb=80.0))).comparisons[0].change("memory")
    assert one_peak.status == TOO_FEW_SAMPLES  # one repeat's peak is one sample, not a figure to gate on


def test_thresholds_come_from_the_candidate_suite_regression_section(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    b = night(tmp_path, "base", 1, measurement(repeats(rng)))
    c = night(tmp_path, "cand", 2, measurement(repeats(rng, median_us=2200.0)),
              suite={"regression": {"latency_pct": 20.0, "min_repeats": 8}})
    result = compare_runs(b, c)
    assert result.thresholds == RegressionSpec(latency_pct=20.0, min_repeats=8)
    assert result.comparisons[0].status == WITHIN_THRESHOLD and result.verdict == 0


def int8(samples: tuple[tuple[float, ...], ...], accuracy_delta: float, **kwargs) -> Measurement:  # type: ignore[no-untyped-def]
    """A full-int8 row whose accuracy is `accuracy_delta` points from fp32's 71% (the budget is 1 point)."""
    return measurement(samples, variant="full-int8", accuracy=71.0 + accuracy_delta, accuracy_delta=accuracy_delta,
                       **kwargs)


def test_a_variant_that_newly_leaves_the_accuracy_budget_fails_even_without_a_change(tmp_path: Path) -> None:
    samples = repeats(np.random.default_rng(11))
    b = night(tmp_path, "base", 1, int8(samples, -0.8))
    c = night(tmp_path, "cand", 2, int8(samples, -1.1))  # 0.3 points: within accuracy_points, but out of the budget
    result = compare_runs(b, c)
    (comparison,) = result.comparisons
    assert comparison.status == NOT_SIGNIFICANT and comparison.failed and comparison.accuracy_standing is None
    assert comparison.accuracy_gate == "outside budget by accuracy Δ -1.10 < -1 points"
    assert result.verdict == 1 and "1 accuracy gate failed" in result.verdict_text


def test_a_standing_accuracy_miss_is_reported_since_its_first_night_not_gated(tmp_path: Path) -> None:
    samples = repeats(np.random.default_rng(25))
    night(tmp_path, "n1", 1, int8(samples, -0.5))
    night(tmp_path, "n2", 2, int8(samples, -1.5))
    b = night(tmp_path, "n3", 3, int8(samples, -1.5))
    c = night(tmp_path, "n4", 4, int8(samples, -1.5))
    result = compare_runs(b, c, history=load_history(tmp_path, "nightly"))
    (comparison,) = result.comparisons
    assert not comparison.failed and comparison.accuracy_gate is None and result.verdict == 0
    assert comparison.accuracy_standing == "outside budget since n2: outside budget by accuracy Δ -1.50 < -1 points"
    assert result.verdict_text.startswith("OK: no regression") and "1 outside accuracy budget" in result.verdict_text
    # Without the suite's history the baseline is as far back as the comparison can see.
    assert compare_runs(b, c).comparisons[0].accuracy_standing.startswith("outside budget since n3: ")


def test_a_standing_miss_whose_accuracy_drops_beyond_its_threshold_still_fails(tmp_path: Path) -> None:
    samples = repeats(np.random.default_rng(26))
    b = night(tmp_path, "base", 1, int8(samples, -1.5))
    c = night(tmp_path, "cand", 2, int8(samples, -2.5))  # 1 point lower: beyond accuracy_points (0.5)
    (comparison,) = compare_runs(b, c).comparisons
    assert comparison.failed and comparison.status == REGRESSION and comparison.reason == "accuracy"
    assert comparison.accuracy_gate is None and comparison.accuracy_standing.startswith("outside budget since base")


def test_an_absolute_accuracy_gate_fails_a_standing_miss_when_asked(tmp_path: Path) -> None:
    samples = repeats(np.random.default_rng(27))
    b = night(tmp_path, "base", 1, int8(samples, -1.5))
    c = night(tmp_path, "cand", 2, int8(samples, -1.5))
    asked = compare_runs(b, c, absolute_accuracy_gate=True)
    assert asked.verdict == 1 and asked.comparisons[0].accuracy_gate == "outside budget by accuracy Δ -1.50 < -1 points"
    by_suite = night(tmp_path, "strict", 3, int8(samples, -1.5),
                     suite={"accuracy": {"top_k": 1, "budget_points": 1.0, "absolute_gate": True}})
    assert compare_runs(c, by_suite).verdict == 1
    assert compare_runs(c, by_suite, absolute_accuracy_gate=False).verdict == 0  # the flag wins over the suite


def test_two_unchanged_runs_with_a_standing_miss_compare_with_exit_0(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    from benchlab.cli_nightly import register

    rng = np.random.default_rng(28)
    for run_id, day in (("a", 1), ("b", 2)):
        night(tmp_path, run_id, day, measurement(repeats(rng), variant="fp32", recipe="fp32", accuracy_delta=0.0),
              int8(repeats(rng), -6.4, size_bytes=1_000_000))
    parser = argparse.ArgumentParser(prog="benchlab")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["compare", "a", "b", "--results", str(tmp_path), "--json", str(tmp_path / "s.json")])
    assert args.func(args) == 0
    assert "OK: no regression (2 not significant, 1 outside accuracy budget (standing, not gated))" in \
        capsys.readouterr().out
    (_, standing) = json.loads((tmp_path / "s.json").read_text())["comparisons"]
    assert standing["accuracy_standing"] == "outside budget since a: outside budget by accuracy Δ -6.40 < -1 points"
    args = parser.parse_args(["compare", "a", "b", "--results", str(tmp_path), "--absolute-accuracy-gate"])
    assert args.func(args) == 1


def test_unlabelled_data_gates_on_top1_agreement(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    weak = Fidelity(reference_variant="fp32", top1_agreement=0.97, max_abs_error=0.3, mean_abs_error=0.01)
    samples = repeats(rng)
    b = night(tmp_path, "base", 1, measurement(samples, accuracy=None, accuracy_delta=None))
    c = night(tmp_path, "cand", 2, measurement(samples, accuracy=None, accuracy_delta=None, fidelity=weak))
    (comparison,) = compare_runs(b, c).comparisons
    assert comparison.change("accuracy") is None
    assert comparison.accuracy_gate == "outside budget by top-1 agreement 97.0% < 99% (against fp32)"


def test_a_model_with_neither_labels_nor_class_scores_gates_on_its_worst_output_cosine(tmp_path: Path) -> None:
    from benchlab.records import OutputFidelity

    rng = np.random.default_rng(14)
    samples = repeats(rng)

    def mask_fidelity(cosine: float) -> Fidelity:  # a segmentation mask and a score: no top-1 figure
        return Fidelity(reference_variant="fp32", top1_agreement=None, max_abs_error=0.2, mean_abs_error=0.02,
                        outputs=(OutputFidelity("mask", 0.2, 0.02, cosine, 20.0), OutputFidelity("score", 0.1, 0.01,
                                                                                               0.9999, 40.0)))

    unlabelled = {"accuracy": None, "accuracy_delta": None}
    base = night(tmp_path, "base", 1, measurement(samples, fidelity=mask_fidelity(0.9991), **unlabelled))
    broken = night(tmp_path, "cand", 2, measurement(samples, fidelity=mask_fidelity(0.62), **unlabelled))
    (comparison,) = compare_runs(base, broken).comparisons
    assert comparison.failed
    assert comparison.accuracy_gate == "outside budget by worst-output cosine 0.6200 < 0.99 (against fp32)"
    sound = night(tmp_path, "sound", 3, measurement(samples, fidelity=mask_fidelity(0.9991), **unlabelled))
    assert compare_runs(base, sound).comparisons[0].accuracy_gate is None


def test_a_new_failure_fails_missing_and_new_rows_are_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    b = night(tmp_path, "base", 1, measurement(repeats(rng), accelerator="gpu", kind="gpu", threads=None),
              measurement(repeats(rng)), measurement(repeats(rng), device_id="galaxy-a15"))
    c = night(tmp_path, "cand", 2,
              measurement((), accelerator="gpu", kind="gpu", threads=None, status="failed",
                          error="GPU delegate refused the model: unsupported op RESIZE_BILINEAR"),
              measurement(repeats(rng)), measurement(repeats(rng), variant="int16x8"))
    result = compare_runs(b, c)
    statuses = {(c.variant, c.device_id, c.accelerator): c.status for c in result.comparisons}
    assert statuses == {("fp16", "pixel7", "gpu"): FAILED, ("fp16", "pixel7", "cpu-t4"): NOT_SIGNIFICANT,
                        ("int16x8", "pixel7", "cpu-t4"): NEW, ("fp16", "galaxy-a15", "cpu-t4"): MISSING}
    assert result.verdict == 1 and result.verdict_text.startswith("FAIL: 1 failed")


def test_a_run_cannot_be_its_own_baseline_and_unrelated_runs_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    b = night(tmp_path, "base", 1, measurement(repeats(rng)))
    other = night(tmp_path, "other", 2, measurement(repeats(rng), model="yamnet"))
    with pytest.raises(StoreError, match="same run"):
        compare_runs(b, b)
    with pytest.raises(StoreError, match="nothing to compare"):
        compare_runs(b, other)


def test_kth_pairwise_difference_matches_brute_force_with_ties() -> None:
    rng = np.random.default_rng(15)
    for _ in range(100):
        x = np.sort(rng.integers(900, 1100, rng.integers(1, 30)).astype(float))  # whole microseconds: ties
        y = np.sort(rng.integers(900, 1200, rng.integers(1, 30)).astype(float))
        brute = np.sort(np.subtract.outer(y, x).ravel())
        for k in (1, len(brute) // 2 + 1, len(brute)):
            assert kth_pairwise_difference(x, y, k) == brute[k - 1]


def test_hodges_lehmann_interval_covers_the_true_shift_about_95_percent() -> None:
    rng = np.random.default_rng(16)
    covered = 0
    for _ in range(300):
        estimate, low, high = hodges_lehmann(rng.normal(0, 1, 25), rng.normal(0.5, 1, 30))
        covered += low <= 0.5 <= high
    assert 0.92 <= covered / 300 <= 0.99


def test_history_orders_runs_by_start_time_and_resolves_latest(tmp_path: Path) -> None:
    rng = np.random.default_rng(17)
    # Written out of order, with an interrupted night and another suite in the same root.
    third = night(tmp_path, "20261103-020000-nightly", 3, measurement(repeats(rng)))
    night(tmp_path, "20261101-020000-nightly", 1, measurement(repeats(rng)))
    night(tmp_path, "20261102-020000-nightly", 2, measurement(repeats(rng)), finished=False)
    night(tmp_path, "20261102-030000-lab", 2, measurement(repeats(rng)), suite_name="lab")
    history = load_history(tmp_path, suite_name="nightly")
    assert list(history["run_id"]) == ["20261101-020000-nightly", "20261102-020000-nightly", "20261103-020000-nightly"]
    assert list(history["run_order"]) == [0, 1, 2]
    assert str(history["run_started_at"].iloc[0]) == "2026-11-01 02:00:00+00:00"
    assert {"latency_ms_median", "accuracy", "size_bytes"} <= set(history.columns)
    assert len(load_history(tmp_path)) == 4 and len(list_runs(tmp_path)) == 4
    # "latest" skips the interrupted night and the other suite.
    assert latest_before(third, tmp_path).name == "20261101-020000-nightly"
    assert resolve_run("20261103-020000-nightly", tmp_path) == third
    with pytest.raises(StoreError, match="no run 'nope' in .* \\(newest runs: 20261103-020000-nightly, "):
        resolve_run("nope", tmp_path)


def test_compare_command_with_a_plain_namespace(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from benchlab.cli_nightly import cmd_compare

    rng = np.random.default_rng(18)
    night(tmp_path, "base", 1, measurement(repeats(rng)))
    night(tmp_path, "cand", 2, measurement(repeats(rng, median_us=2400.0)))
    write_calibration(tmp_path, "nightly", {KEY: [0.02, -0.03, 0.01, -0.02]})  # `benchlab calibrate` measured ±6%
    args = argparse.Namespace(baseline="base", candidate="cand", results=tmp_path, junit=tmp_path / "out" / "j.xml",
                              json=tmp_path / "out" / "s.json", markdown=tmp_path / "out" / "c.md")
    assert cmd_compare(args) == 1
    out = capsys.readouterr().out
    assert "regression" in out and "FAIL: 1 regression" in out
    assert all((tmp_path / "out" / name).stat().st_size > 0 for name in ("j.xml", "s.json", "c.md"))


def test_compare_subcommand_through_the_parser(tmp_path: Path) -> None:
    from benchlab.cli_nightly import register

    rng = np.random.default_rng(19)
    night(tmp_path, "base", 1, measurement(repeats(rng)))
    night(tmp_path, "cand", 2, measurement(repeats(rng)))
    parser = argparse.ArgumentParser(prog="benchlab")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["compare", "base", str(tmp_path / "cand"), "--results", str(tmp_path)])
    assert args.func(args) == 0
    args = parser.parse_args(["history", str(tmp_path), "--csv", str(tmp_path / "h.csv")])
    assert args.func(args) == 0 and (tmp_path / "h.csv").read_text().startswith("run_order,")


def test_a_bad_threshold_override_is_refused_naming_the_allowed_names(capsys: pytest.CaptureFixture) -> None:
    from benchlab.cli_nightly import register

    parser = argparse.ArgumentParser(prog="benchlab")
    register(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["compare", "a", "b", "--threshold", "latency=3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "NAME one of: size_pct (default 1.0), latency_pct (default 5.0)" in err and "min_repeats (default 5)" in err
    args = parser.parse_args(["compare", "a", "b", "--threshold", "min_repeats=8", "--threshold", "latency_pct=2.5"])
    assert dict(args.threshold) == {"min_repeats": 8, "latency_pct": 2.5}
    # Checked by the suite's own RegressionSpec fields, so a value a suite may not hold is refused too.
    for text, error in (("alpha=1.5", "'alpha=1.5': Input should be less than 1"),
                        ("size_pct=-1", "'size_pct=-1': Input should be greater than or equal to 0")):
        with pytest.raises(SystemExit):
            parser.parse_args(["compare", "a", "b", "--threshold", text])
        assert error in capsys.readouterr().err


def test_trend_plots_need_two_runs_and_survive_an_unreadable_sibling(tmp_path: Path) -> None:
    from benchlab.views.trends import trend_plots_for_run

    rng = np.random.default_rng(20)
    first = night(tmp_path, "20261101-nightly", 1, measurement(repeats(rng)))
    assert trend_plots_for_run(first) == []
    second = night(tmp_path, "20261102-nightly", 2, measurement(repeats(rng, median_us=2300.0)))
    assert [p.name for p in trend_plots_for_run(second)] == ["trend_latency.png", "trend_size_accuracy.png"]
    future = tmp_path / "20261103-from-a-newer-benchlab"
    future.mkdir()
    (future / "run.json").write_text('{"schema_version": 99}')
    # The unreadable run is skipped with a warning naming it; the readable ones still make the trend.
    assert [p.name for p in trend_plots_for_run(second)] == ["trend_latency.png", "trend_size_accuracy.png"]


def test_compare_history_and_check_never_import_tensorflow(tmp_path: Path) -> None:
    import subprocess
    import sys

    rng = np.random.default_rng(23)
    night(tmp_path, "base", 1, measurement(repeats(rng)))
    night(tmp_path, "cand", 2, measurement(repeats(rng)))
    script = (
        "import argparse, sys\n"
        "from benchlab.cli_nightly import register\n"
        "parser = argparse.ArgumentParser(prog='benchlab')\n"
        "register(parser.add_subparsers(dest='command', required=True))\n"
        f"for argv in (['compare', 'base', 'cand', '--results', {str(tmp_path)!r}], ['history', {str(tmp_path)!r}],\n"
        f"             ['check', 'cand', '--results', {str(tmp_path)!r}]):\n"
        "    args = parser.parse_args(argv)\n"
        "    assert args.func(args) == 0, argv\n"
        "print('HEAVY=' + ','.join(sorted(m for m in ('tensorflow', 'keras', 'coremltools') if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "HEAVY=\n" in result.stdout, result.stdout + result.stderr
