"""Change points over history (benchlab.results.changepoints) on seeded synthetic nightly series, and
`benchlab history --changes` end to end on run directories written with benchlab's own store.

The synthetic series look like real nightly medians: log-normal run-to-run noise of 5%, and on
about one night in twenty an outlier 30% to 150% slower (a co-tenant, a hot phone). Properties are
checked over SEEDS fixed seeds, so every figure here is deterministic.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchlab.results.changepoints import MIN_RUNS, ChangePoint, Segment, changes_frame, find_changes
from benchlab.cli import main
from benchlab.records import AcceleratorSetting, DeviceInfo, Measurement, Variant
from benchlab.results.run_meta import RunMeta
from benchlab.results.store import RunStore
from benchlab.views.trends import mark_changes

SEEDS = range(50)
BASE_MS = 10.0
NOISE = 0.05
NIGHTS = 30


def nightly_series(seed: int, nights: int = NIGHTS, steps: Sequence[tuple[int, float]] = (),
                   outlier_rate: float = 0.05) -> np.ndarray:
    """Median latency per night: BASE_MS, 5% log-normal noise, (night, percent) steps, outlier nights."""
    rng = np.random.default_rng(seed)
    log_latency = math.log(BASE_MS) + rng.normal(0.0, NOISE, nights)
    for night, percent in steps:
        log_latency[night:] += math.log1p(percent / 100.0)
    slow = rng.random(nights) < outlier_rate
    log_latency[slow] += np.log(rng.uniform(1.3, 2.5, int(slow.sum())))
    return np.exp(log_latency)


def history(latency_by_variant: dict[str, Sequence[float | None]], os_update_night: int | None = None) -> pd.DataFrame:
    """A history table as load_history gives it (the columns change points read), one run per night;
    from `os_update_night` on, the phone runs a new OS build."""
    rows = []
    for variant, latencies in latency_by_variant.items():
        for night, value in enumerate(latencies):
            updated = os_update_night is not None and night >= os_update_night
            rows.append({"run_order": night, "run_id": f"night-{night:02d}", "model": "m", "variant": variant,
                         "device_id": "pixel", "accelerator": "cpu-t4",
                         "status": "ok" if value is not None else "failed", "latency_ms_median": value,
                         "os_version": "15/AP3A" if updated else "14/UQ1A", "runner": "benchmark_model",
                         "runner_version": "2.16.1"})
    return pd.DataFrame(rows)


def changes_of(latencies: Sequence[float]) -> Segment:
    """The one setup segment of a series measured on one setup throughout."""
    (series,) = find_changes(history({"v": latencies}))
    (segment,) = series.segments
    return segment


def test_a_20_percent_step_is_found_at_its_night_with_its_size() -> None:
    (change,) = changes_of(nightly_series(0, steps=[(15, 20.0)])).changes
    assert change.run_id == "night-15" and change.run_order == 15
    assert change.before_ms == pytest.approx(BASE_MS, rel=0.03)
    assert change.after_ms == pytest.approx(BASE_MS * 1.2, rel=0.03)
    assert change.change_pct == pytest.approx(20.0, abs=4.0)
    assert (change.runs_before, change.runs_after) == (15, 15)


def test_a_20_percent_step_is_found_in_every_seeded_series_nearly_always_within_one_run() -> None:
    nearest = []
    spurious = 0
    for seed in SEEDS:
        changes = changes_of(nightly_series(seed, steps=[(15, 20.0)])).changes
        assert changes, f"seed {seed}: the step was missed"
        nearest.append(min(changes, key=lambda c: abs(c.run_order - 15)))
        spurious += len(changes) > 1
    within_one = [c for c in nearest if abs(c.run_order - 15) <= 1]
    # The rest are outlier nights next to the step: a slow night just before it is nearer the new
    # level than the old one, so which side it belongs to is ambiguous and the boundary moves.
    assert len(within_one) >= 0.85 * len(SEEDS)
    sizes = [c.change_pct for c in nearest]
    assert sum(abs(size - 20.0) <= 5.0 for size in sizes) >= 0.9 * len(SEEDS)
    assert float(np.median(sizes)) == pytest.approx(20.0, abs=1.5)
    assert spurious <= 0.05 * len(SEEDS)


def test_flat_noisy_series_give_no_change_point() -> None:
    flagged = [seed for seed in SEEDS if changes_of(nightly_series(seed)).changes]
    assert len(flagged) <= 0.05 * len(SEEDS), flagged
    assert changes_of(nightly_series(0)).status == "no change"


def test_one_outlier_night_is_not_a_change_point() -> None:
    flagged = []
    for seed in SEEDS:
        latency = nightly_series(seed, outlier_rate=0.0)
        latency[12] *= 2.0  # one night twice as slow
        if changes_of(latency).changes:
            flagged.append(seed)
    assert len(flagged) <= 0.05 * len(SEEDS), flagged
    last_night_slow = nightly_series(1, outlier_rate=0.0)
    last_night_slow[-1] *= 2.0  # tonight: not a level yet, compare's job
    assert changes_of(last_night_slow).changes == ()


def test_two_steps_are_both_found() -> None:
    both = 0
    for seed in SEEDS:
        changes = changes_of(nightly_series(seed, nights=36, steps=[(12, 20.0), (24, -25.0)])).changes
        up = [c for c in changes if abs(c.run_order - 12) <= 1 and c.change_pct > 10]
        down = [c for c in changes if abs(c.run_order - 24) <= 1 and c.change_pct < -15]
        both += bool(up and down) and len(changes) == 2
    assert both >= 0.9 * len(SEEDS)


def test_a_series_shorter_than_the_minimum_is_too_few_runs_not_no_change() -> None:
    short = changes_of([10.0, 10.1, 9.9, 20.0, 20.2][: MIN_RUNS - 1])
    assert not short.enough_runs and short.changes == () and short.noise_pct is None
    assert short.status == f"too few runs ({MIN_RUNS - 1} < {MIN_RUNS})"
    just_enough = changes_of([10.0, 10.1, 9.9, 20.0, 20.2, 19.8][:MIN_RUNS])
    assert just_enough.enough_runs and [c.run_id for c in just_enough.changes] == ["night-03"]


def test_each_series_is_its_own_and_failed_nights_are_gaps() -> None:
    stepped = list(nightly_series(3, steps=[(10, 30.0)]))
    stepped[9] = None  # failed that night: the step shows at the next night it was measured
    frame = history({"fp32": list(nightly_series(4, outlier_rate=0.0)), "int8": stepped})
    fp32, int8 = find_changes(frame)
    assert (fp32.variant, fp32.segments[0].status, fp32.segments[0].runs) == ("fp32", "no change", NIGHTS)
    assert (int8.variant, int8.segments[0].runs) == ("int8", NIGHTS - 1)
    assert [c.run_id for c in int8.changes] == ["night-10"]
    table = changes_frame([fp32, int8])
    assert list(table["status"]) == ["no change", "change"]
    assert table["change_pct"].iloc[1] == pytest.approx(30.0, abs=6.0)
    assert pd.isna(table["run_id"].iloc[0])


OS_UPDATE = "os_version 14/UQ1A → 15/AP3A"


def setup_series(seed: int, nights: int, os_update_night: int, steps: Sequence[tuple[int, float]]):  # type: ignore[no-untyped-def]
    """The one series of a seeded history whose phone got a new OS build at `os_update_night`."""
    (series,) = find_changes(history({"v": list(nightly_series(seed, nights=nights, steps=steps))}, os_update_night))
    return series


def test_a_step_at_an_os_update_is_a_setup_change_with_its_size_not_a_change_point() -> None:
    judged, flagged, sizes = [], 0, []
    for seed in SEEDS:
        series = setup_series(seed, NIGHTS, 15, steps=[(15, 25.0)])  # the update made the phone 25% slower
        first, second = series.segments
        update = second.setup_change
        assert first.setup_change is None and (first.runs, second.runs) == (15, 15)
        assert (update.run_id, update.run_order, update.what) == ("night-15", 15, OS_UPDATE)
        judged += series.changes
        flagged += sum(bool(segment.changes) for segment in series.segments)
        sizes.append(update.change_pct)
    # Flat within each setup: a segment flagged as rarely as a flat series is, never at the update itself.
    assert flagged <= 0.05 * 2 * len(SEEDS) and all(c.run_order != 15 for c in judged)
    assert sum(abs(size - 25.0) <= 6.0 for size in sizes) >= 0.9 * len(SEEDS)
    assert float(np.median(sizes)) == pytest.approx(25.0, abs=1.5)
    # Without a change point on either side, the levels span each setup: 15 runs before, 15 after.
    unjudged = setup_series(0, NIGHTS, 15, steps=[(15, 25.0)])
    assert unjudged.changes == ()
    assert (unjudged.segments[1].setup_change.runs_before, unjudged.segments[1].setup_change.runs_after) == (15, 15)
    # The same nights on one OS build: the step is the code's, found as a change point.
    (same_os,) = find_changes(history({"v": list(nightly_series(0, steps=[(15, 25.0)]))}))
    assert [c.run_id for c in same_os.changes] == ["night-15"] and same_os.segments[0].setup_change is None


def test_a_code_regression_after_an_os_update_is_still_found_within_the_new_setup() -> None:
    found, levels = 0, []
    for seed in SEEDS:
        series = setup_series(seed, 36, 12, steps=[(12, 25.0), (24, 20.0)])  # OS update, then the code
        update = series.segments[1].setup_change
        assert (update.run_id, update.what) == ("night-12", OS_UPDATE)
        assert all(c.run_order != 12 for c in series.changes)
        regression = [c for c in series.changes if abs(c.run_order - 24) <= 1 and c.change_pct > 10]
        found += len(regression) == 1 == len(series.changes)
        levels.append(update.after_ms)  # the new setup's level up to the regression
    assert found >= 0.85 * len(SEEDS)
    assert float(np.median(levels)) == pytest.approx(BASE_MS * 1.25, rel=0.03)
    table = changes_frame([setup_series(0, 36, 12, steps=[(12, 25.0), (24, 20.0)])])
    assert table["status"].tolist() == ["no change", "setup change", "change"]
    assert table["segment"].tolist() == [0, 1, 1] and table["runs"].tolist() == [12, 24, 24]
    assert table["setup_change"].fillna("").tolist() == ["", OS_UPDATE, ""]
    assert table["run_id"].tolist()[1:] == ["night-12", "night-24"]
    assert table["change_pct"].iloc[2] == pytest.approx(20.0, abs=5.0)


def test_a_setup_with_too_few_runs_is_not_searched_and_says_so() -> None:
    latency = list(nightly_series(2, nights=14, outlier_rate=0.0))
    latency[12:] = [2.0 * v for v in latency[12:]]  # the last two nights on the new OS twice as slow
    rows = history({"v": latency}, os_update_night=9)
    (series,) = find_changes(rows)
    first, second = series.segments
    assert (first.runs, first.status, second.runs) == (9, "no change", 5)
    # Five runs cannot hold three on each side of a step: no change point is invented there.
    assert second.status == f"too few runs (5 < {MIN_RUNS})" and second.noise_pct is None and second.changes == ()
    assert (second.setup_change.runs_before, second.setup_change.runs_after) == (9, 5)  # still measured
    row = changes_frame([series]).iloc[-1]
    assert (row["status"], row["runs"]) == (f"too few runs (5 < {MIN_RUNS})", 5) and pd.isna(row["run_id"])


def test_a_failed_night_on_the_new_os_does_not_hide_the_setup_change() -> None:
    latency: list[float | None] = list(nightly_series(3, steps=[(15, 25.0)], outlier_rate=0.0))
    latency[15] = None  # the first night on the new OS build failed; its row holds the new build
    (series,) = find_changes(history({"v": latency}, os_update_night=15))
    assert [s.setup_change.run_id for s in series.segments[1:]] == ["night-16"]  # type: ignore[union-attr]
    assert series.changes == ()


def test_an_empty_history_has_no_series() -> None:
    assert find_changes(pd.DataFrame(columns=["run_id", "run_order"])) == []


def test_trend_plots_mark_a_change_at_its_run_with_its_size() -> None:
    from benchlab.views.plotting import pyplot

    fig, ax = pyplot().subplots()
    change = ChangePoint(run_id="night-07", run_order=7, before_ms=10.0, after_ms=12.5, runs_before=7, runs_after=5)
    mark_changes(ax, [change], colour="C1")
    (line,) = ax.lines
    assert list(line.get_xdata()) == [7, 7]
    assert [text.get_text() for text in ax.texts] == ["+25%"]
    pyplot().close(fig)


def write_nights(root: Path, nights: int, step_night: int) -> list[str]:
    """Write `nights` runs with RunStore: fp32 flat, int8 25% slower from `step_night` on; return run ids."""
    rng = np.random.default_rng(7)
    start = datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)
    device = DeviceInfo(id="pixel-7", platform="android", model="Pixel 7", tier="flagship")
    accelerator = AcceleratorSetting(name="cpu-t4", kind="cpu", threads=4)
    run_ids = []
    for night in range(nights):
        started = start + timedelta(days=night)
        store = RunStore(root / f"{started:%Y%m%d-%H%M%S}-nightly")
        store.create(RunMeta(suite_name="nightly", harness_version="0.1.0", started_at=started.isoformat(),
                             finished_at=(started + timedelta(minutes=20)).isoformat()))
        level = math.exp(rng.normal(0.0, NOISE))  # the night's run-to-run factor
        for name, base_us in (("fp32", 8000.0), ("int8", 3000.0)):
            scale = base_us * level * (1.25 if name == "int8" and night >= step_night else 1.0)
            samples = tuple(tuple(float(v) for v in scale * rng.lognormal(0.0, 0.02, 40)) for _ in range(3))
            variant = Variant(model="mobilenet", name=name, recipe=name, format="tflite", status="built",
                              size_bytes=1000, sha256="ab" * 32)
            store.append(Measurement(job_id=f"mobilenet-{name}", run_id=store.run_id, suite="nightly",
                                     variant=variant, device=device, accelerator=accelerator, status="ok",
                                     runner="benchmark_model", samples_us=samples))
        run_ids.append(store.run_id)
    return run_ids


def test_history_changes_command_prints_and_writes_the_change_points(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_ids = write_nights(tmp_path / "results", nights=12, step_night=6)
    out = tmp_path / "changes.csv"
    assert main(["history", "--changes", "--results", str(tmp_path / "results"), "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert run_ids[6] in printed and "no change" in printed
    with open(out, newline="") as handle:
        rows = {row["variant"]: row for row in csv.DictReader(handle)}
    assert rows["fp32"]["status"] == "no change" and rows["fp32"]["runs"] == "12"
    assert rows["int8"]["run_id"] == run_ids[6] and rows["int8"]["status"] == "change"
    assert float(rows["int8"]["change_pct"]) == pytest.approx(25.0, abs=5.0)
    assert float(rows["int8"]["before_ms"]) == pytest.approx(3.0, rel=0.05)


def test_history_refuses_two_different_results_roots(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_nights(tmp_path / "a", nights=2, step_night=1)
    assert main(["history", str(tmp_path / "a"), "--results", str(tmp_path / "b"), "--changes"]) == 2
    assert "two results roots given" in capsys.readouterr().err
    assert main(["history", str(tmp_path / "a"), "--changes"]) == 0
    assert "too few runs (2 < 6)" in capsys.readouterr().out
