"""The results store: crash-safe appends, versioned records, tidy DataFrames of raw samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import benchlab
from benchlab.errors import StoreError
from benchlab.records import AcceleratorSetting, Conditions, DeviceInfo, Fidelity, Measurement, Variant
from benchlab.store import MEASUREMENTS_FILE, RunStore

REQUIRED_COLUMNS = (
    "run_id model variant format device_id tier accelerator threads status error size_bytes "
    "size_compressed_bytes init_ms latency_ms_median latency_ms_p90 latency_ms_ci_low latency_ms_ci_high "
    "peak_memory_mb accuracy accuracy_delta fidelity_top1_agreement"
).split()


def measurement(job: str, samples: tuple[tuple[float, ...], ...], status: str = "ok") -> Measurement:
    variant = Variant(model="m", name=job, recipe="fp16", format="tflite", status="built", size_bytes=2048,
                      size_compressed_bytes=1500, sha256="ab" * 32)
    return Measurement(
        job_id=job, run_id="run1", suite="s", variant=variant,
        device=DeviceInfo(id="host", platform="host", tier="host"),
        accelerator=AcceleratorSetting(name="cpu-t2", kind="cpu", threads=2), status=status, runner="litert-python",
        init_us=1500.0, first_us=900.0, warmup_us=(800.0,), samples_us=samples, peak_memory_mb=40.0,
        accuracy=97.5, accuracy_delta=-0.3, fidelity=Fidelity("fp32", 0.99, 0.1, 0.01),
        conditions_before=Conditions(timestamp=1.0, thermal_status=0, load_average=0.5),
        outputs=np.ones((3, 10), dtype=np.float32),
    )


def new_store(tmp_path: Path) -> RunStore:
    store = RunStore(tmp_path / "run1")
    store.create({"suite_name": "s", "suite": {"accuracy": {"budget_points": 1.0}}, "harness_version": "0",
                  "devices": [], "variants": [], "started_at": "now"})
    return store


def test_round_trip_and_tidy_columns(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    samples = tuple(float(v) for v in range(1000, 1010))
    store.append(measurement("a", (samples, samples)))
    (back,) = store.measurements()
    assert back.samples_us == (samples, samples) and back.fidelity.top1_agreement == 0.99
    assert (tmp_path / "run1" / back.outputs_file).exists()
    df = benchlab.load_results(tmp_path / "run1")
    assert set(REQUIRED_COLUMNS) <= set(df.columns)
    row = df.iloc[0]
    assert row["latency_ms_median"] == pytest.approx(1.0045)  # computed from the 20 raw samples
    assert row["init_ms"] == 1.5 and row["threads"] == 2
    assert row["latency_ms_ci_low"] <= row["latency_ms_median"] <= row["latency_ms_ci_high"]


def test_samples_frame_has_one_row_per_iteration(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.append(measurement("a", ((1.0, 2.0, 3.0), (4.0, 5.0))))
    samples = benchlab.load_samples(tmp_path / "run1")
    measured = samples[samples["phase"] == "measured"]
    assert list(measured["latency_us"]) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert list(measured["repeat"]) == [0, 0, 0, 1, 1]
    assert list(samples[samples["phase"] == "warmup"]["latency_us"]) == [800.0]


def test_a_torn_last_record_is_skipped_and_earlier_ones_kept(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.append(measurement("a", ((1.0,),)))
    with open(store.directory / MEASUREMENTS_FILE, "a") as handle:
        handle.write('{"job_id": "b", "run_id": "ru')  # the process died mid-write
    assert [m.job_id for m in store.measurements()] == ["a"]
    assert store.completed_job_ids() == {"a"}


def test_unknown_schema_version_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.append(measurement("a", ((1.0,),)))
    path = store.directory / MEASUREMENTS_FILE
    record = json.loads(path.read_text())
    record["schema_version"] = 99
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(StoreError, match="schema version 99; this benchlab reads version 1"):
        store.measurements()


def test_a_run_directory_cannot_be_created_twice(tmp_path: Path) -> None:
    new_store(tmp_path)
    with pytest.raises(StoreError, match="already holds a run"):
        new_store(tmp_path)


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        benchlab.load_results(tmp_path / "missing")


def test_resume_runs_only_the_jobs_without_a_measurement(tmp_path: Path, tiny_tflite_path: Path,
                                                         digits_npz: Path) -> None:
    """A run interrupted after some jobs (records removed as if the process died) is finished in place."""
    import yaml

    from benchlab.cli import main

    suite = {"name": "resume", "models": [{"name": "tiny", "path": str(tiny_tflite_path)}],
             "dataset": {"npz": str(digits_npz)}, "variants": ["tflite"],
             "accelerators": [{"kind": "cpu", "threads": 1}, {"kind": "cpu", "threads": 2},
                              {"kind": "cpu", "threads": 1, "xnnpack": False}],
             "scenario": {"warmup": 1, "iterations": 5}}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    (run_dir,) = (tmp_path / "results").iterdir()
    records = (run_dir / MEASUREMENTS_FILE).read_text().splitlines()
    kept = records[:1]
    (run_dir / MEASUREMENTS_FILE).write_text("\n".join(kept) + "\n" + records[1][:40])  # died mid-write
    assert main(["run", "--resume", run_dir.name, "--results", str(tmp_path / "results")]) == 0
    store = RunStore(run_dir)
    finished = store.measurements()
    assert len(finished) == 3 and len({m.job_id for m in finished}) == 3
    assert finished[0].job_id == json.loads(kept[0])["job_id"]  # the measured job was kept, not re-run
    assert json.loads((run_dir / "run.json").read_text())["finished_at"]


def test_run_needs_a_suite_or_resume(capsys: pytest.CaptureFixture) -> None:
    from benchlab.cli import main

    assert main(["run"]) == 2
    assert "give a SUITE to run, or --resume" in capsys.readouterr().err
