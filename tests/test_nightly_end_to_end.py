"""The nightly loop's wiring, end to end, on real runs whose verdicts are known.

Two real runs of one suite on this machine differ by 10-27% here (issue: "numbers people can
trust"), so a test that compares two real runs and asserts "clean" fails at random, and one that
asserts "regression" under a load it made depends on how busy the machine already was. The
statistics are tested on seeded hierarchical data (tests/test_compare.py); this file checks what
connects them: `benchlab run`, the store, `compare`, the gate, JUnit/JSON/Markdown files, history
and trend plots, `calibrate` and `ab`. Each candidate is derived from one real run by a known
transform: an exact copy (no change: never a regression), every repeat at 3× the slowest repeat of
the original (a regression whatever the original's spread), or a baseline ×0.2 that a real run is
compared against (a 5× gap no load on this machine can close).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

import benchlab
from benchlab.cli import main
from benchlab.cli_nightly import cmd_compare, register
from benchlab.nightly.compare import NOT_SIGNIFICANT, REGRESSION, compare_runs
from benchlab.results.history import list_runs, load_history
from benchlab.pipeline import gate
from benchlab.results.layout import GATE_FILES, MEASUREMENTS_FILE, MEASUREMENTS_PARQUET, RUN_FILE, SAMPLES_PARQUET
from benchlab.views.trends import trend_plots_for_run

SCENARIO = {"warmup": 2, "iterations": 20, "min_seconds": 0, "repeats": 6}


def write_suite(folder: Path, models: list[dict], digits_npz: Path, scenario: dict = SCENARIO) -> Path:
    suite = {"name": "nightly-host", "models": models, "dataset": {"npz": str(digits_npz), "limit": 50},
             "variants": ["tflite"], "accelerators": [{"kind": "cpu", "threads": 1}], "scenario": scenario}
    path = folder / "nightly.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def derived_run(source: Path, root: Path, run_id: str, started_at: str, latency_scale: float,
                above_every_repeat: bool = False) -> Path:
    """Copy a real run under a new id and start time, every measured latency multiplied by a factor.

    With `above_every_repeat`, each repeat is scaled so its median is `latency_scale` times the
    slowest repeat of the source: the copy is slower than every source repeat whatever their spread.
    """
    target = root / run_id
    shutil.copytree(source, target)
    for stale in (MEASUREMENTS_PARQUET, SAMPLES_PARQUET):
        (target / stale).unlink(missing_ok=True)
    meta = json.loads((target / RUN_FILE).read_text())
    (target / RUN_FILE).write_text(json.dumps({**meta, "run_id": run_id, "started_at": started_at,
                                               "finished_at": started_at}))
    lines = (target / MEASUREMENTS_FILE).read_text().splitlines()
    slowest = max(statistics.median(json.loads(line)["samples_us"][0]) for line in lines)
    records = []
    for line in lines:
        record = json.loads(line)
        record["run_id"] = run_id
        for index, repeat in enumerate(record["samples_us"]):
            factor = latency_scale * (slowest / statistics.median(repeat) if above_every_repeat else 1.0)
            record["samples_us"][index] = [v * factor for v in repeat]
        records.append(json.dumps(record))
    (target / MEASUREMENTS_FILE).write_text("\n".join(records) + "\n")
    return target


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory, tiny_tflite_path: Path, digits_npz: Path) -> dict[str, Path]:
    """One real night, then an unchanged copy and a copy 3× slower than its slowest repeat on the following nights."""
    work = tmp_path_factory.mktemp("nightly")
    suite_path = write_suite(work, [{"name": "tiny", "path": str(tiny_tflite_path)}], digits_npz)
    results = work / "results"
    assert main(["run", str(suite_path), "--results", str(results)]) == 0
    (real,) = list(results.iterdir())
    return {"results": results, "suite": suite_path, "real": real,
            "same": derived_run(real, results, "29990101-000000-same", "2999-01-01T00:00:00+00:00", 1.0),
            "slower": derived_run(real, results, "29990102-000000-slower", "2999-01-02T00:00:00+00:00", 3.0,
                                  above_every_repeat=True)}


def compare_args(results: Path, baseline: Path, candidate: Path, out: Path) -> argparse.Namespace:
    """Parse a `benchlab compare` command line with the subcommands cli_nightly registers."""
    parser = argparse.ArgumentParser(prog="benchlab")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["compare", baseline.name, candidate.name, "--results", str(results),
                              "--junit", str(out / "junit.xml"), "--json", str(out / "summary.json"),
                              "--markdown", str(out / "comment.md")])


def test_a_real_run_stores_repeats_interleaved_and_exports_parquet(nights: dict[str, Path]) -> None:
    real = nights["real"]
    records = [json.loads(line) for line in (real / MEASUREMENTS_FILE).read_text().splitlines()]
    assert sorted(r["repeat"] for r in records) == list(range(6))  # one record per repeat, one job
    assert all(len(r["samples_us"]) == 1 and len(r["samples_us"][0]) >= 20 for r in records)
    row = benchlab.load_results(real).iloc[0]
    assert row["latency_repeats"] == 6 and row["latency_ms_ci_low"] <= row["latency_ms_median"]
    assert (real / MEASUREMENTS_PARQUET).stat().st_size > 0 and (real / SAMPLES_PARQUET).stat().st_size > 0


def test_an_unchanged_night_compares_clean(nights: dict[str, Path], tmp_path: Path) -> None:
    args = compare_args(nights["results"], nights["real"], nights["same"], tmp_path)
    assert cmd_compare(args) == 0
    (row,) = compare_runs(nights["real"], nights["same"]).comparisons
    assert row.status == NOT_SIGNIFICANT and not row.failed and not row.model_changed
    assert row.change("latency").change == 0 and row.change("latency").n_baseline == row.change("latency").n_candidate == 6
    assert row.change("latency").mdc_pct is not None  # "not significant" always says what could have been seen
    assert row.change("size").change == 0 and row.change("accuracy").change == 0  # same model, same inputs, same outputs
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "0"


def test_a_slower_night_is_a_regression_with_a_junit_failure(nights: dict[str, Path], tmp_path: Path) -> None:
    assert cmd_compare(compare_args(nights["results"], nights["same"], nights["slower"], tmp_path)) == 1
    failure = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite/testcase/failure")
    assert failure is not None and failure.get("type") == "regression"
    assert (failure.get("message") or "").startswith("latency +")
    (row,) = compare_runs(nights["same"], nights["slower"]).comparisons
    assert row.status == REGRESSION and row.change("latency").change >= 200.0 and row.change("latency").p_value < 0.01
    assert "regression" in (tmp_path / "comment.md").read_text()


def test_the_run_gate_fails_a_night_against_a_much_faster_baseline(nights: dict[str, Path], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    results = tmp_path / "results"
    results.mkdir()
    fast = derived_run(nights["real"], results, "20000101-000000-fast", "2000-01-01T00:00:00+00:00", 0.2)
    argv = ["run", str(nights["suite"]), "--results", str(results), "--baseline", "latest", "--fail-on-regression"]
    assert main(argv) == 1
    assert "FAIL: 1 regression" in capsys.readouterr().out
    (tonight,) = [p for p in results.iterdir() if p != fast]
    assert all((tonight / name).stat().st_size > 0 for name in GATE_FILES.values())
    junit = ET.parse(tonight / GATE_FILES["junit"]).getroot()
    assert junit.find("testsuite/properties/property[@name='baseline']").get("value") == fast.name
    assert gate(tonight, fast.name, results).verdict == 1


def test_a_first_night_with_no_baseline_yet_keeps_its_report_and_says_why_in_one_line(
        nights: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    results = tmp_path / "results"
    argv = ["run", str(nights["suite"]), "--results", str(results), "--baseline", "latest", "--fail-on-regression"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "no earlier finished run of suite" in captured.err and "Traceback" not in captured.err
    assert "report:" in captured.err  # the table and the report came first
    (tonight,) = results.iterdir()
    assert (tonight / "report.html").stat().st_size > 0 and (tonight / "summary.json").exists()


def test_the_library_entry_point_runs_and_gates(nights: dict[str, Path], tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    derived_run(nights["real"], results, "20000101-000000-fast", "2000-01-01T00:00:00+00:00", 0.2)
    outcome = benchlab.run(nights["suite"], results, baseline="latest")
    assert outcome.comparison is not None and outcome.comparison.verdict == 1 and outcome.exit_code == 1
    assert outcome.record.results["status"].tolist() == ["ok"]
    assert (outcome.run_dir / GATE_FILES["junit"]).exists()


def test_history_and_trend_plots_cover_every_night(nights: dict[str, Path]) -> None:
    paths = [nights["real"], nights["same"], nights["slower"]]
    assert [r.path for r in list_runs(nights["results"])] == paths
    history = load_history(nights["results"])
    assert list(history["run_order"]) == [0, 1, 2]
    assert history["run_started_at"].is_monotonic_increasing
    assert len(benchlab.load_results(nights["results"])) == 3
    pngs = trend_plots_for_run(nights["slower"])
    assert [p.name for p in pngs] == ["trend_latency.png", "trend_size_accuracy.png"]
    assert all(p.stat().st_size > 10_000 for p in pngs)
    assert trend_plots_for_run(paths[0]) == []  # the first night has no trend


def test_calibrate_runs_the_suite_and_writes_each_rows_noise_floor(tmp_path: Path, tiny_tflite_path: Path,
                                                                    digits_npz: Path, capsys: pytest.CaptureFixture) -> None:
    quick = {"warmup": 1, "iterations": 5, "min_seconds": 0, "repeats": 2}
    suite_path = write_suite(tmp_path, [{"name": "tiny", "path": str(tiny_tflite_path)}], digits_npz, quick)
    assert main(["calibrate", str(suite_path), "--runs", "4", "--results", str(tmp_path / "results")]) == 0
    (row,) = json.loads((tmp_path / "results" / "noise-floor.json").read_text())["nightly-host"]
    assert (row["model"], row["device_id"], row["accelerator"]) == ("tiny", "host", "cpu-t1")
    assert len(row["changes_log"]) == 3 and row["noise_floor_pct"] > 0  # 4 runs: 3 run-to-run changes
    assert "measured noise floor over 4 runs" in capsys.readouterr().out
    assert len(list_runs(tmp_path / "results")) == 4
    assert main(["calibrate", str(suite_path), "--runs", "1", "--results", str(tmp_path / "results")]) == 2


def test_ab_compares_two_models_of_one_run_round_by_round(tmp_path: Path, tiny_tflite_path: Path,
                                                          conv_tflite_path: Path, digits_npz: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """The conv model does ~1000× the tiny model's work: a known, large within-run difference."""
    suite_path = write_suite(tmp_path, [{"name": "tiny", "path": str(tiny_tflite_path)},
                                        {"name": "conv", "path": str(conv_tflite_path)}], digits_npz)
    results = tmp_path / "results"
    assert main(["run", str(suite_path), "--results", str(results)]) == 0
    (run,) = list(results.iterdir())
    capsys.readouterr()
    assert main(["ab", run.name, "tiny", "conv", "--results", str(results)]) == 1
    assert "regression" in capsys.readouterr().out
    assert main(["ab", run.name, "conv", "tiny", "--results", str(results)]) == 0  # the other way: improved
    assert main(["ab", run.name, "tiny", "nope", "--results", str(results)]) == 2
