"""Sustained mode (scenario.sustained_minutes): the suite field, the windows, the curve's figures, and the
whole path on a loopback phone that heats and throttles on simulated time (android_runner/loopback/thermal.py):
suite -> windows in the run folder -> curve in the report -> kept throughput and first drop."""

from __future__ import annotations

import json

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchlab.cli import main
from benchlab.errors import SuiteError
from benchlab.execute.executor import StopControl
from benchlab.execute.sustained import SustainedWindow, run_sustained, sustained_jobs, window_count, window_seconds
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import load_suite
from benchlab.records import (
    AcceleratorSetting,
    Capabilities,
    Conditions,
    DeviceInfo,
    Job,
    Measurement,
    Scenario,
    Variant,
)
from benchlab.results.layout import RunLayout
from benchlab.results.sustained import (
    append_window,
    complete_sessions,
    load_sessions,
    start_session,
    sustained_curve,
    sustained_curves,
)
from android_runner.loopback import LoopbackAdbDevice
from android_runner.loopback.personalities import HOT_FLAGSHIP
from android_runner.loopback.thermal import SimulatedSoC, ThermalModel


def _suite(tmp_path: Path, model: Path, scenario: dict, targets: list[str] | None = None) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "sustained", "models": [{"name": "tiny", "path": str(model)}],
                                    "variants": ["tflite"], "targets": targets or ["host"], "scenario": scenario}))
    return path


@pytest.mark.parametrize("value, message", [
    (0, "scenario.sustained_minutes: Input should be greater than 0"),
    (-1, "scenario.sustained_minutes: Input should be greater than 0"),
    ("ten", "scenario.sustained_minutes: Input should be a valid number"),
    (1e9, "scenario.sustained_minutes: Input should be less than or equal to 1440"),
])
def test_a_bad_duration_is_refused_in_one_line(tmp_path: Path, tiny_tflite_path: Path, value: object,
                                               message: str) -> None:
    with pytest.raises(SuiteError) as caught:
        load_suite(_suite(tmp_path, tiny_tflite_path, {"sustained_minutes": value}), RECIPES)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_short_duration_is_allowed_and_reaches_the_jobs(tmp_path: Path, tiny_tflite_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, tiny_tflite_path, {"sustained_minutes": 0.5}), RECIPES)
    assert suite.scenario.scenario().sustained_minutes == 0.5


def test_windows_are_30_s_or_a_tenth_of_a_short_run() -> None:
    assert (window_seconds(10), window_count(10)) == (30.0, 20)
    assert (window_seconds(0.5), window_count(0.5)) == (3.0, 10)
    assert (window_seconds(2), window_count(2)) == (12.0, 10)
    assert window_count(7.25) == 15  # the last window may end the session a little late


def _windows(throughputs: list[float], seconds: float = 30.0, statuses: list[int] | None = None,
             samples: bool = True) -> list[SustainedWindow]:
    """Windows of `seconds` under load each, at the given throughputs (seeded jitter around each latency)."""
    rng = np.random.default_rng(7)
    windows = []
    for index, throughput in enumerate(throughputs):
        latency = 1e6 / throughput
        count = round(seconds * throughput)
        values = latency + rng.uniform(-0.05, 0.05, count) * latency
        values += latency - values.mean()  # exactly the throughput asked for
        status = statuses[index] if statuses else None
        windows.append(SustainedWindow(
            job_id="m.v.phone.cpu", model="m", variant="v", device_id="phone", accelerator="cpu", index=index,
            windows=len(throughputs), window_seconds=seconds, status="ok",
            samples_us=tuple(values) if samples else (),
            stats={} if samples else {"count": count, "avg_us": float(values.mean()), "median_us": latency},
            conditions=Conditions(timestamp=0.0, thermal_status=status, temperatures_c={"skin": 30.0 + index}),
        ))
    return windows


def test_kept_throughput_and_first_drop_from_the_windows() -> None:
    # Ten minutes of 30 s windows: 100/s for the first minute, then throttled in steps.
    throughputs = [100, 100, 98, 95, 89, 85, 80, 75, 72, 70, 69, 68, 67, 67, 66, 66, 66, 66, 66, 66]
    curve = sustained_curve(_windows(throughputs, statuses=[0, 0, 1, 1, 2] + [3] * 15))
    assert curve.complete and len(curve.points) == 20
    assert curve.reference_throughput == pytest.approx(100)
    assert curve.kept_pct == pytest.approx(66, abs=0.01)  # the last minute: two windows at 66/s
    assert curve.first_drop_minute == pytest.approx(2.0)  # the window starting at 2 min, 89/s < 90/s
    assert [p.thermal_status for p in curve.points][:5] == [0, 0, 1, 1, 2]
    assert curve.summary() == ("m/v on phone · cpu: kept 66% of its first-minute throughput after 10.0 min under "
                               "load (100.0 → 66.0 inferences/s); dropped >10% at 2.0 min")


def test_a_flat_curve_did_not_drop_and_stats_only_windows_count() -> None:
    # benchmark_model prints statistics, not each inference: a window of count and mean is enough.
    curve = sustained_curve(_windows([50, 50, 49, 48, 47, 46, 46, 46, 46, 46], seconds=3.0, samples=False))
    assert curve.first_drop_minute is None and curve.drop_text() == "did not drop >10%"
    assert curve.kept_pct == pytest.approx(92)
    assert curve.points[0].median_ms == pytest.approx(20.0)


def test_a_failed_window_ends_the_curve_with_its_reason() -> None:
    windows = _windows([100] * 10, seconds=3.0)
    windows[4] = replace(windows[4], status="failed", error="benchmark_model killed", samples_us=())
    curve = sustained_curve(windows[:5])
    assert len(curve.points) == 4 and not curve.complete
    assert curve.summary().endswith("(stopped after 4 of 10 windows: benchmark_model killed)")


def test_windows_are_stored_and_read_back(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    windows = _windows([100, 90, 80], seconds=3.0)
    start_session(layout, windows[0].job_id)
    for window in windows:
        append_window(layout, window)
    with open(layout.sustained_file(windows[0].job_id), "a") as handle:
        handle.write('{"job_id": "torn')  # a crash mid-write
    assert load_sessions(layout) == {windows[0].job_id: windows}


def test_each_windows_energy_is_kept_and_on_the_curve(tmp_path: Path) -> None:
    from benchlab.views.sustained import sustained_rows

    windows = [replace(w, metric_values={"energy": 2.0 + i, "energy.rail.S2M_VDD_CPUCL2": 1.5})
               for i, w in enumerate(_windows([100, 90, 80], seconds=3.0))]
    (stored,) = load_sessions(RunLayout(_stored(tmp_path, windows))).values()
    assert stored == windows, "every metric value of a window is stored and read back"
    curve = sustained_curve(stored)
    assert [p.energy_mj for p in curve.points] == [2.0, 3.0, 4.0] and curve.points[0].energy_impact is None
    (row,) = sustained_rows([curve])
    assert row["mJ/inf first → last window"] == "2.000 → 4.000" and "energy impact first → last window" not in row
    assert "mJ/inf first → last window" not in sustained_rows([sustained_curve(_windows([100] * 3, seconds=3.0))])[0]


def _stored(run_dir: Path, windows: list[SustainedWindow]) -> Path:
    layout = RunLayout(run_dir)
    start_session(layout, windows[0].job_id)
    for window in windows:
        append_window(layout, window)
    return run_dir


def test_two_runs_curves_compare_by_kept_points_and_first_drop_never_gated(tmp_path: Path) -> None:
    from benchlab.nightly.sustained_compare import compare_sustained

    base = _stored(tmp_path / "base", _windows([50, 50, 49, 48, 47, 46, 46, 46, 46, 46], seconds=3.0))
    cand = _stored(tmp_path / "cand", _windows([50, 50, 44, 40, 36, 33, 32, 32, 32, 32], seconds=3.0))
    (change,) = compare_sustained(base, cand)
    assert change.baseline_kept_pct == pytest.approx(92) and change.candidate_kept_pct == pytest.approx(64)
    assert change.kept_change_points == pytest.approx(-28)
    assert change.baseline_first_drop_minute is None and change.candidate_first_drop_minute == pytest.approx(0.1)
    assert change.text() == ("m/v on phone · cpu: kept 92% → 64% (-28.0 points); first drop >10% none → at 0.10 min "
                             "(one session each: reported, not tested)")
    longer = _stored(tmp_path / "longer", _windows([50] * 20, seconds=3.0))
    (other,) = compare_sustained(base, longer)
    assert other.kept_change_points is None and "different lengths: 0.50 and 1.0 min)" in other.text()
    (missing,) = compare_sustained(base, tmp_path / "none")
    assert missing.text().endswith("not compared (no session in the candidate)")


def test_only_a_session_that_ran_every_window_is_complete(tmp_path: Path) -> None:
    # `--resume` runs a session again whole unless every planned window measured.
    layout = RunLayout(tmp_path)
    whole, cut = _windows([100, 90, 80], seconds=3.0), _windows([100, 90, 80], seconds=3.0)
    cut = [replace(w, job_id="m.v.other.cpu") for w in cut[:2]]
    failed = [replace(w, job_id="m.v.third.cpu") for w in whole]
    failed[2] = replace(failed[2], status="failed", error="timed out")
    for window in (*whole, *cut, *failed):
        append_window(layout, window)
    assert complete_sessions(layout) == {whole[0].job_id}
    start_session(layout, "m.v.other.cpu")  # a session run again starts from an empty file
    assert set(load_sessions(layout)) == {whole[0].job_id, "m.v.third.cpu"}


class CountingDevice:
    """Runs exactly the iterations a job asks for, each 10 ms, ignoring min_seconds (as the iPhone app does;
    it takes language models too, so a test sees them left out for what they are, not for the device);
    its thermal state climbs one step per window."""

    thermal_limits = None

    def __init__(self) -> None:
        self.info = DeviceInfo(id="phone", platform="ios")
        self.asked: list[int] = []

    def capabilities(self) -> Capabilities:
        return Capabilities(kinds=frozenset({"cpu"}), formats=frozenset({"tflite", "litertlm"}))

    def conditions(self) -> Conditions:
        return Conditions(timestamp=0.0)

    def prepare(self, artifacts: object) -> None:
        pass

    def run(self, job: Job) -> Measurement:
        self.asked.append(job.scenario.iterations)
        after = Conditions(timestamp=0.0, thermal_status=min(len(self.asked) - 1, 3), thermal_scale="ios-thermal-state")
        return Measurement(job_id=job.job_id, run_id="r", suite="s", variant=job.variant, device=self.info,
                           accelerator=job.accelerator, status="ok", runner="counting",
                           samples_us=((10_000.0,) * job.scenario.iterations,), conditions_after=after)

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_runner_that_only_counts_iterations_gets_windows_of_the_right_length() -> None:
    device, windows = CountingDevice(), []
    variant = Variant(model="m", name="v", recipe="tflite", format="tflite", status="ok", path=None)
    job = Job(job_id="m.v.phone.cpu", run_id="r", suite="s", variant=variant, device_id="phone",
              accelerator=AcceleratorSetting(name="cpu", kind="cpu"),
              scenario=Scenario(iterations=50, sustained_minutes=0.5))
    run_sustained(sustained_jobs([job], [device]), [device], windows.append, StopControl(), {job.job_id: 12_500.0},
                  say=lambda _line: None)
    # Sized from the repeats' 12.5 ms first (240 x 10 ms = 2.4 s), then from each window: 300 x 10 ms = 3 s.
    assert device.asked == [240] + [300] * 9
    curve = sustained_curve(windows)
    assert curve.complete and [p.thermal_status for p in curve.points] == [0, 1, 2, 3, 3, 3, 3, 3, 3, 3]
    assert curve.kept_pct == pytest.approx(100) and curve.first_drop_minute is None
    language_model = replace(job, variant=replace(variant, format="litertlm"))
    assert sustained_jobs([language_model], [device]) == []  # tokens per second per cell, not windows


def test_the_simulated_phone_heats_throttles_and_climbs_in_status(tmp_path: Path) -> None:
    model = ThermalModel()
    (tmp_path / "dumpsys").mkdir()
    soc = SimulatedSoC(model, tmp_path)
    first = soc.inference_us()
    while soc.load_s < 120:
        last = soc.inference_us()
    soc.save()
    assert first == model.base_inference_us
    # Two minutes toward 55 °C with a 40 s time constant: about 53.8 °C, throttled by about half.
    assert soc.soc_c == pytest.approx(55 - 25 * math.exp(-soc.load_s / 40), abs=0.3)
    assert last / first == pytest.approx(model.factor(soc.soc_c), rel=1e-3) and last / first > 1.5
    from android_runner.dumpsys import parse_thermal

    dumped = parse_thermal((tmp_path / "dumpsys" / "thermalservice").read_text())
    assert dumped.status == 4 and dumped.temperatures_c["CPU0"] == pytest.approx(soc.soc_c, abs=0.05)
    again = SimulatedSoC(model, tmp_path)  # the next run of the tool carries on from the stored state
    assert again.soc_c == soc.soc_c


def test_a_sustained_run_on_a_heating_phone_draws_the_curve(tmp_path: Path, android_loopback_env: None,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            tiny_tflite_path: Path, capsys) -> None:
    monkeypatch.setenv("BENCHLAB_ADB_SERVER", "0")
    with LoopbackAdbDevice(HOT_FLAGSHIP, tmp_path / "phone", accept_new_keys=True) as phone:
        suite = _suite(tmp_path, tiny_tflite_path, {"warmup": 1, "iterations": 3, "repeats": 1,
                                                    "op_profile_runs": 0, "sustained_minutes": 2},
                       targets=[f"android:{phone.serial}"])
        results = tmp_path / "results"
        assert main(["run", str(suite), "--results", str(results)]) == 0
    (run_dir,) = results.iterdir()
    layout = RunLayout(run_dir)
    (curve,) = sustained_curves(layout)
    assert curve.complete and len(curve.points) == 10 and curve.device_id == phone.serial
    statuses = [p.thermal_status for p in curve.points]
    assert statuses[0] == 0 and statuses == sorted(statuses) and statuses[-1] >= 3  # read with dumpsys
    temperatures = [p.max_temperature_c for p in curve.points]
    assert temperatures == sorted(temperatures) and temperatures[-1] > 50
    # Simulated time: the same figures on any machine, however loaded.
    assert curve.kept_pct == pytest.approx(65, abs=2)
    assert curve.first_drop_minute == pytest.approx(0.4, abs=0.02)  # window 3, at 44/s against 50/s
    out = capsys.readouterr().out
    assert f"sustained: {curve.summary()}" in out and "kept 6" in out
    page = layout.report_html.read_text()
    assert "<h2>Sustained load</h2>" in page and 'alt="sustained-load plot"' in page
    assert layout.sustained_png.stat().st_size > 10_000
    (row,) = json.loads(layout.summary_json.read_text())  # the figures as numbers, beside the display cells
    assert row["sustained"]["kept_pct"] == pytest.approx(curve.kept_pct)
    assert row["sustained"]["first_drop_minute"] == pytest.approx(0.4, abs=0.02) and row["sustained"]["complete"]

    layout.sustained_png.unlink()  # a report rebuilt from the run folder recomputes the curve
    assert main(["report", str(run_dir)]) == 0
    assert layout.sustained_png.exists() and sustained_curves(layout) == [curve]
