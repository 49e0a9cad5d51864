"""Metrics are plug-ins: each module of benchlab.metrics is found by the registry and read by every stage."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from benchlab.metrics import registered
from benchlab.metrics.base import RepeatMetric, Threshold
from benchlab.metrics.change import REGRESSION, ChangeContext
from benchlab.nightly.ci_outputs import details, summary_dict
from benchlab.nightly.compare import compare_measurements, compare_runs
from benchlab.plan.suite import RegressionSpec
from benchlab.records import Measurement
from benchlab.results.run_record import RunRecord, combine_repeats
from tests.test_compare import measurement, write_run

SAMPLES = (1000.0, 1001.0, 999.0)


def repeat_records(init_us: list[float], first_us: float = 5000.0) -> list[Measurement]:
    """One job's repeat records, each with its own init time (each repeat is a fresh process)."""
    base = measurement(SAMPLES)
    return [replace(base, repeat=i, init_us=value, first_us=first_us) for i, value in enumerate(init_us)]


def test_every_metric_module_is_registered_in_table_order() -> None:
    names = [m.name for m in registered()]
    assert names == ["size", "latency", "prefill_tps", "decode_tps", "ttft", "memory", "energy", "energy_impact",
                     "accuracy", "fidelity", "init", "first_inference"]


def test_a_metric_threshold_becomes_a_suite_regression_field() -> None:
    assert RegressionSpec().init_pct == 10.0 and RegressionSpec().first_inference_pct == 10.0
    assert RegressionSpec(init_pct=25).init_pct == 25.0


def test_init_time_is_the_median_of_the_repeats_in_the_tidy_table(tmp_path: Path) -> None:
    run = write_run(tmp_path, "run", repeat_records([30_000.0, 10_000.0, 20_000.0]))
    row = RunRecord.load(run).results.iloc[0]
    assert row["init_ms"] == 20.0 and row["first_ms"] == 5.0


def test_a_slower_init_is_reported_but_never_fails_the_check() -> None:
    base = combine_repeats(repeat_records([10_000.0 + i for i in range(6)]))
    cand = combine_repeats(repeat_records([20_000.0 + i for i in range(6)]))
    row = compare_measurements(base, cand, RegressionSpec())
    init = row.change("init")
    assert init is not None and init.status == REGRESSION and not init.gates
    assert not row.failed and row.status != REGRESSION
    assert "init 10 ms → 20 ms" in details(row) and "reported, never fails the check" in details(row)


def test_the_json_summary_keeps_one_key_per_compared_metric(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", repeat_records([10_000.0] * 6))
    cand = write_run(tmp_path, "cand", repeat_records([10_000.0] * 6))
    (row,) = summary_dict(compare_runs(base, cand))["comparisons"]
    assert {"latency", "size", "memory", "accuracy", "init", "first_inference"} <= set(row)
    assert row["latency"]["metric"] == "latency" and "changes" not in row


class Energy(RepeatMetric):
    """A metric no Measurement field names: a runner reports it in `metric_values`."""

    name = "energy"
    label = "energy"
    unit = "mJ"
    position = 80
    column = "energy_mj"
    threshold = Threshold("energy_pct", 5.0, "energy per inference")


def test_a_runner_reported_metric_needs_only_its_module() -> None:
    energy = Energy()
    records = [replace(measurement(SAMPLES), repeat=i, metric_values={"energy": 2.0 + 0.01 * i}) for i in range(6)]
    base = replace(combine_repeats(records), repeat_values={"energy": tuple(energy.repeat_value(r) for r in records)})
    slower = replace(base, repeat_values={"energy": tuple(2.0 * v for v in base.repeat_values["energy"])})
    assert energy.columns(base) == {"energy_mj": 2.025}
    change = energy.change(base, slower, ChangeContext(threshold=5.0))
    assert change is not None and change.status == REGRESSION and change.unit == "mJ" and change.gates


def test_energy_warns_when_repeats_fall_below_idle_or_spread_too_far() -> None:
    from benchlab.metrics.energy import METRIC as ENERGY

    steady = replace(measurement(SAMPLES), repeat_values={"energy": (10.0, 10.2, 9.9, 10.1, 10.0, 9.8)})
    assert ENERGY.warnings(steady) == []
    codes = [code for code, _ in ENERGY.warnings(replace(steady, repeat_values={"energy": (10.0, -0.4, 10.1)}))]
    assert codes == ["energy-below-idle"]  # a non-positive repeat has no log spread: only that warning
    codes = [code for code, _ in ENERGY.warnings(replace(steady, repeat_values={"energy": (10.0, 20.0, 9.0, 15.0)}))]
    assert codes == ["energy-noisy"]
