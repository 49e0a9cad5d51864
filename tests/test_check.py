"""`benchlab check`: which measurements not to trust, and what a suite's coverage leaves out."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchlab.records import DeviceInfo, Fidelity, OutputFidelity
from benchlab.results.run_record import RunRecord
from benchlab.decide.check import check_run
from tests.test_compare import measurement, night, repeats

PIXEL = DeviceInfo("pixel9pro", "android", model="Pixel 9 Pro", tier="flagship")
GALAXY_A15 = DeviceInfo("a15", "android", model="Galaxy A15", tier="low-end")


def codes(run_dir: Path) -> list[tuple[str, str | None]]:
    return [(w.code, w.variant) for w in check_run(run_dir)]


def test_a_stable_well_sampled_measurement_has_no_warning(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    stable = repeats(rng, between=0.02)
    run = night(tmp_path, "run", 1, measurement(stable, thermal=(0, 0)), devices=[GALAXY_A15, PIXEL])
    assert check_run(run) == []


def test_high_cv_few_samples_thermal_and_fallback_are_flagged(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    stable = repeats(rng, between=0.02)
    noisy = tuple(tuple(2000.0 * rng.lognormal(0, 0.4, 100)) for _ in range(6))
    spread = tuple((c,) * 20 for c in (1500.0, 2000.0, 2600.0, 1800.0, 2400.0, 2100.0))  # steady inside, not across
    run = night(
        tmp_path, "run", 1,
        measurement(noisy, variant="noisy"),
        measurement(stable[:3], variant="short"),
        measurement(spread, variant="spread"),
        measurement(stable, variant="warm", flags=("thermal-rose",), thermal=(0, 2)),
        measurement(stable, variant="hot", flags=("started-hot",)),
        measurement(stable, variant="gpu", accelerator="gpu", kind="gpu", threads=None, delegate_applied="partial"),
        measurement(stable, variant="cpu-fallback-is-fine", delegate_applied="no"),  # CPU asked for: no delegate
        measurement((), variant="broken", status="failed", error="crashed"),  # already says why
    )
    assert codes(run) == [("unstable", "noisy"), ("few-repeats", "short"),  # "spread": steady iterations
                          ("noisy-repeats", "spread"), ("thermal-rose", "warm"), ("started-hot", "hot"), ("delegate-fallback", "gpu")]
    by_code = {w.code: w for w in reversed(check_run(run))}  # the first warning of each code
    assert by_code["thermal-rose"].message.startswith("thermal status rose during the job (0 → 2)")
    assert by_code["unstable"].message.startswith("unstable: iterations spread by 39% of the median")  # ≈ 0.4 log sd
    assert "(IQR/1.35, median over repeats; more than 10%)" in by_code["unstable"].message
    assert by_code["few-repeats"].message.startswith("only 3 repeat(s); at least 6 are needed")
    assert by_code["noisy-repeats"].message.startswith("repeat medians spread by")
    assert by_code["unstable"].where == "mobilenet/noisy on pixel7 · cpu-t4"


def microsecond_repeats(rng: np.random.Generator, outlier_share: float = 0.01) -> tuple[tuple[float, ...], ...]:
    """A 10 µs model as this machine runs it: repeat medians 2% apart, iterations 1% around them, and
    about 1% of iterations preempted by a context switch (20-300x the median)."""
    out = []
    for centre in 10.0 * rng.lognormal(0.0, 0.02, 6):
        values = centre * rng.lognormal(0.0, 0.01, 300)
        hit = rng.random(300) < outlier_share
        values[hit] *= rng.uniform(20.0, 300.0, hit.sum())
        out.append(tuple(float(v) for v in values))
    return tuple(out)


def test_microsecond_rows_whose_repeat_medians_agree_are_not_unstable_for_their_outliers(tmp_path: Path) -> None:
    from benchlab.metrics.stats import summarize
    from benchlab.decide.check import outlier_summary

    samples = microsecond_repeats(np.random.default_rng(7))
    assert summarize(samples).cv > 2  # the std is over 200% of the mean: what the old rule called unstable
    run = night(tmp_path, "run", 1, measurement(samples, thermal=(0, 0)), devices=[GALAXY_A15, PIXEL])
    assert check_run(run) == []
    summary = outlier_summary(RunRecord.load(run))
    assert summary.startswith("iteration outliers (beyond Q3 + 3 IQR of their repeat): ")
    assert " iterations in 1 of 1 row(s), up to " in summary and "not a warning" in summary


def test_an_unstable_row_says_how_many_outliers_it_had_and_how_large(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    wide = tuple(tuple(float(v) for v in 2000.0 * rng.lognormal(0, 0.3, 100)) for _ in range(6))
    wide = (wide[0][:-1] + (2000.0 * 50,), *wide[1:])  # one 50x preemption in the first repeat
    run = night(tmp_path, "run", 1, measurement(wide, thermal=(0, 0)), devices=[GALAXY_A15, PIXEL])
    (warning,) = check_run(run)
    assert warning.code == "unstable"
    assert "of 600 iterations were outliers, up to 5" in warning.message  # 50x its repeat's median, and the next


def test_only_flagship_phones_is_a_suite_warning(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    stable = repeats(rng, between=0.02)
    run = night(tmp_path, "run", 1, measurement(stable, device_id="pixel9pro"), devices=[PIXEL])
    (warning,) = check_run(run)
    assert warning.code == "flagship-only" and warning.where == "suite"
    assert warning.message.startswith("no low-end device: most users will see slower numbers")


def test_an_unquantized_fp32_pick_is_flagged(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    stable = repeats(rng, between=0.02)
    run = night(
        tmp_path, "run", 1,
        measurement(stable, variant="fp32", recipe="fp32", accuracy=71.0, accuracy_delta=0.0, size_bytes=8_000_000),
        # Smaller and as fast, but 3 points less accurate: outside the 1-point budget, so fp32 is the pick.
        measurement(stable, variant="full-int8", accuracy=68.0, accuracy_delta=-3.0, size_bytes=2_000_000),
    )
    assert codes(run) == [("pick-is-fp32", "fp32")]
    assert check_run(run)[0].message == ("the pick is the unquantized fp32 variant: full-int8 outside budget by "
                                         "accuracy Δ -3.00 < -1 points; check the recipes and the accelerator")


def test_check_command_prints_the_warnings(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from benchlab.cli_nightly import cmd_check

    night(tmp_path, "run", 1, measurement(repeats(np.random.default_rng(5), count=2)))
    assert cmd_check(argparse.Namespace(run="run", results=tmp_path)) == 0
    out = capsys.readouterr().out
    assert "few-repeats" in out and "noise floor per row" in out and "benchlab calibrate" in out
    assert "iteration outliers: none in 1 row(s) with iterations" in out


def test_a_runner_without_per_iteration_times_needs_enough_repeats(tmp_path: Path) -> None:
    stats = ({"count": 50, "avg_us": 2100.0, "median_us": 2000.0},) * 3
    run = night(tmp_path, "run", 1, measurement((), runner_stats=stats))
    (warning,) = check_run(run)
    assert warning.code == "few-repeats"
    assert warning.message == ("only 3 repeat(s); at least 6 are needed for a 95% interval and to tell a change "
                               "from noise: raise scenario.repeats")


def _with_mask_fidelity(run_dir: Path, worst: dict[str, float]) -> RunRecord:
    """The stored run with each variant's fidelity as scoring computes it for a model whose only
    output is a mask (a cosine, no top-1 agreement), set on the loaded record."""
    record = RunRecord.load(run_dir)
    return replace(record, measurements=tuple(
        replace(m, fidelity=Fidelity("fp32", None, 0.0, 0.0, outputs=(OutputFidelity("mask", 0.1, 0.01,
                                                                                      worst[m.variant.name], None),)))
        for m in record.measurements))


def test_an_fp32_pick_on_synthetic_data_names_the_figure_that_kept_int8_out(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    stable = repeats(rng, between=0.02)
    unlabelled = {"accuracy": None, "accuracy_delta": None}
    run = night(tmp_path, "run", 1, measurement(stable, variant="fp32", recipe="fp32", size_bytes=8_000_000, **unlabelled),
                measurement(stable, variant="full-int8", size_bytes=2_000_000, **unlabelled))
    (warning,) = check_run(_with_mask_fidelity(run, {"fp32": 1.0, "full-int8": 0.93}))
    assert warning.code == "pick-is-fp32" and warning.variant == "fp32"
    assert warning.message == ("the pick is the unquantized fp32 variant: full-int8 outside budget by worst-output "
                               "cosine 0.9300 < 0.99; check the recipes and the accelerator")
    # A sound int8 of the same model is within the budget by its cosine, so it is the pick: no warning.
    assert check_run(_with_mask_fidelity(run, {"fp32": 1.0, "full-int8": 0.9987})) == []
    # A tiny model whose int8 file is larger than fp32's (flatbuffer overhead): within the budget, yet not the pick.
    tiny = night(tmp_path, "tiny", 1, measurement(stable, variant="fp32", recipe="fp32", size_bytes=2872, **unlabelled),
                 measurement(stable, variant="full-int8", size_bytes=2896, **unlabelled))
    (warning,) = check_run(_with_mask_fidelity(tiny, {"fp32": 1.0, "full-int8": 0.99999}))
    assert warning.message == ("the pick is the unquantized fp32 variant: full-int8 is within the budget but not as "
                               "fast and smaller; check the recipes and the accelerator")
