"""The results store: crash-safe appends of repeat records, versioned records, one run record,
tidy DataFrames of raw samples, Parquet export, resume bookkeeping."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import benchlab
from benchlab.cli import main as cli_main
from benchlab.errors import StoreError
from benchlab.records import AcceleratorSetting, Conditions, DeviceInfo, Measurement, Variant
from benchlab.results.run_record import RunRecord, combine_repeats
from benchlab.results.layout import MEASUREMENTS_FILE
from benchlab.results.run_meta import RunMeta, StoredSuite
from benchlab.results.store import RunStore

REQUIRED_COLUMNS = (
    "run_id model variant format device_id tier accelerator threads status error size_bytes "
    "size_compressed_bytes init_ms latency_ms_median latency_ms_p90 latency_ms_ci_low latency_ms_ci_high "
    "peak_memory_mb accuracy accuracy_delta fidelity_top1_agreement"
).split()


def measurement(job: str, samples: tuple[tuple[float, ...], ...], status: str = "ok", repeat: int = 0,
                cause: str | None = None) -> Measurement:
    variant = Variant(model="m", name=job, recipe="fp16", format="tflite", status="built", size_bytes=2048,
                      size_compressed_bytes=1500, sha256="ab" * 32)
    return Measurement(
        job_id=job, run_id="run1", suite="s", variant=variant,
        device=DeviceInfo(id="host", platform="host", tier="host"),
        accelerator=AcceleratorSetting(name="cpu-t2", kind="cpu", threads=2), status=status, runner="litert-python",
        init_us=1500.0, first_us=900.0, warmup_us=(800.0,), samples_us=samples, peak_memory_mb=40.0 + repeat,
        conditions_before=Conditions(timestamp=1.0, thermal_status=0, load_average=0.5),
        outputs={"scores": np.ones((3, 10), dtype=np.float32)} if repeat == 0 else None, repeat=repeat, failure_cause=cause,
    )


def new_store(tmp_path: Path) -> RunStore:
    store = RunStore(tmp_path / "run1")
    store.create(RunMeta(suite_name="s", suite=StoredSuite.from_json({"accuracy": {"budget_points": 1.0}}),
                         harness_version="0", started_at="now"))
    return store


def test_repeat_records_combine_into_one_measurement_with_repeat_level_statistics(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    medians = [1000.0, 1100.0, 1050.0, 990.0, 1200.0, 1010.0, 1080.0]
    for repeat, centre in enumerate(medians):
        store.append(measurement("a", (tuple(centre + d for d in (-5.0, 0.0, 5.0)),), repeat=repeat))
    (back,) = RunRecord.load(store.directory).measurements
    assert [r[1] for r in back.samples_us] == medians  # each repeat's iterations, in repeat order
    assert back.peak_memory_mb == 46.0 and back.init_us == 1500.0  # peak of all repeats, init of the first
    assert (tmp_path / "run1" / back.outputs_file).exists()
    df = benchlab.load_results(tmp_path / "run1")
    assert set(REQUIRED_COLUMNS) <= set(df.columns)
    row = df.iloc[0]
    assert row["latency_repeats"] == 7 and row["latency_count"] == 21
    assert row["latency_ms_median"] == pytest.approx(1.05)  # the median of the 7 repeat medians
    # 7 repeats: the order-statistic 95% interval is [x(1), x(7)] of the repeat medians
    assert (row["latency_ms_ci_low"], row["latency_ms_ci_high"]) == (pytest.approx(0.99), pytest.approx(1.2))
    assert row["init_ms"] == 1.5 and row["threads"] == 2


def test_a_single_repeat_has_no_interval(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.append(measurement("a", (tuple(float(v) for v in range(1000, 1100)),)))
    row = benchlab.load_results(store.directory).iloc[0]
    assert row["latency_repeats"] == 1 and row["latency_count"] == 100
    assert row["latency_ms_ci_low"] is None or row["latency_ms_ci_low"] != row["latency_ms_ci_low"]


def test_a_failed_repeat_is_named_and_the_others_kept() -> None:
    ok = [measurement("a", ((1000.0,),), repeat=r) for r in (0, 2)]
    failed = measurement("a", (), status="failed", repeat=1, cause="harness")
    combined = combine_repeats([ok[0], replace(failed, error="worker killed by SIGKILL"), ok[1]])
    assert combined.status == "ok" and combined.samples_us == ((1000.0,), (1000.0,))
    assert "repeats-failed" in combined.flags and "repeat 1 failed: worker killed by SIGKILL" in combined.error
    retried = replace(ok[0], repeat=1)
    assert "repeats-failed" not in combine_repeats([ok[0], failed, ok[1], retried]).flags  # the last record wins


def test_resume_bookkeeping_retries_device_and_harness_failures_only(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.append(measurement("ok", ((1.0,),)))
    store.append(measurement("custom-op", (), status="failed", cause="model"))
    store.append(measurement("lost", (), status="failed", cause="device"))
    store.append(measurement("cut", (), status="interrupted", cause="interrupted"))
    done, dead = store.progress()
    assert done == {("ok", 0), ("custom-op", 0)} and dead == {"custom-op"}
    done, dead = store.progress(retry_failed=True)
    assert done == {("ok", 0)} and dead == set()


def test_many_records_appended_at_once_read_back_as_appended_one_by_one(tmp_path: Path) -> None:
    records = [replace(measurement(job, ((1.0 + repeat, 2.0),), repeat=repeat), outputs=None)
               for job in ("a", "b") for repeat in range(2)]
    one_by_one, at_once = RunStore(tmp_path / "one"), new_store(tmp_path)
    one_by_one.create(RunMeta(suite_name="s", started_at="now"))
    for record in records:
        one_by_one.append(record)
    assert at_once.append_many(records) == 4 and at_once.append_many([]) == 0
    assert at_once.repeat_records() == one_by_one.repeat_records() == [replace(r, run_id="run1") for r in records]
    with pytest.raises(ValueError, match="holds outputs"):
        at_once.append_many([measurement("c", ((1.0,),))])


def test_a_finished_run_is_exported_as_parquet(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.append(measurement("a", ((1000.0, 1001.0),)))
    store.finish("later")
    import pandas as pd

    exported = pd.read_parquet(store.directory / "measurements.parquet")
    assert list(exported["job_id"]) == ["a"] and exported["latency_ms_median"].iloc[0] == pytest.approx(1.0005)
    assert len(pd.read_parquet(store.directory / "samples.parquet")) == 3  # 1 warmup + 2 measured


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
    assert [m.job_id for m in store.repeat_records()] == ["a"]
    assert store.progress()[0] == {("a", 0)}


def test_unknown_schema_version_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.append(measurement("a", ((1.0,),)))
    path = store.directory / MEASUREMENTS_FILE
    record = json.loads(path.read_text())
    record["schema_version"] = 99
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(StoreError, match="schema version 99; this benchlab reads versions 1, 2"):
        store.repeat_records()


def test_a_run_directory_cannot_be_created_twice(tmp_path: Path) -> None:
    new_store(tmp_path)
    with pytest.raises(StoreError, match="already exists"):
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
             "scenario": {"warmup": 1, "iterations": 5, "repeats": 1}}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    (run_dir,) = (tmp_path / "results").iterdir()
    records = (run_dir / MEASUREMENTS_FILE).read_text().splitlines()
    kept = records[:1]
    (run_dir / MEASUREMENTS_FILE).write_text("\n".join(kept) + "\n" + records[1][:40])  # died mid-write
    assert main(["run", "--resume", run_dir.name, "--results", str(tmp_path / "results")]) == 0
    finished = RunStore(run_dir).repeat_records()
    assert len(finished) == 3 and len({(m.job_id, m.repeat) for m in finished}) == 3
    assert (finished[0].job_id, finished[0].repeat) == (json.loads(kept[0])["job_id"], 0)  # kept, not re-run
    assert json.loads((run_dir / "run.json").read_text())["finished_at"]


def test_run_needs_a_suite_or_resume(capsys: pytest.CaptureFixture) -> None:
    from benchlab.cli import main

    assert main(["run"]) == 2
    assert "give a SUITE to run, or --resume" in capsys.readouterr().err


def test_a_full_disk_keeps_what_is_stored_and_says_how_to_resume(tmp_path: Path) -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    from benchlab.errors import DiskFull

    store = new_store(tmp_path)
    store.append(measurement("a", ((1000.0,),)))
    kept = (store.directory / MEASUREMENTS_FILE).read_text()
    (store.directory / MEASUREMENTS_FILE).rename(store.directory / "kept.jsonl")
    (store.directory / MEASUREMENTS_FILE).symlink_to("/dev/full")
    with pytest.raises(DiskFull) as error:
        store.append(measurement("b", ((1000.0,),), repeat=1))
    assert str(error.value) == f"disk full at {store.directory / MEASUREMENTS_FILE}: 1 repeat(s) of this session kept"
    assert error.value.hint == f"free space and resume with `benchlab run --resume {store.directory}`"
    assert error.value.exit_code == 3 and (store.directory / "kept.jsonl").read_text() == kept


def test_a_stored_fidelity_reads_back_with_every_output(tmp_path: Path) -> None:
    from benchlab.records import Fidelity, OutputFidelity
    from benchlab.results.store import read_repeat_records

    store = new_store(tmp_path)
    fidelity = Fidelity("fp32", None, 0.2, 0.01, outputs=(OutputFidelity("mask", 0.2, 0.01, 0.9987, 31.5),
                                                          OutputFidelity("score", 0.1, 0.05, 0.97, 12.0, 0.9)))
    store.append(replace(measurement("a", ((1.0,),)), fidelity=fidelity))
    (back,) = read_repeat_records(store.directory)
    assert back.fidelity == fidelity and back.fidelity.worst_cosine == 0.97


def _one_repeat_run(tmp_path: Path) -> RunStore:
    store = new_store(tmp_path)
    store.append(measurement("a", ((1000.0,),)))
    return store


def _record_line(store: RunStore, **changes: object) -> str:
    record = json.loads((store.directory / MEASUREMENTS_FILE).read_text().splitlines()[0])
    return json.dumps({**record, **changes})


#: Middle lines of measurements.jsonl that are JSON but not a record.
NOT_RECORDS = {
    "a list": lambda store: "[1, 2, 3]",
    "a record with only its version": lambda store: '{"schema_version": 3}',
    "a repeat that is text": lambda store: _record_line(store, repeat="one"),
}


def _damaged_run(tmp_path: Path, damage: str) -> RunStore:
    store = _one_repeat_run(tmp_path)
    line = NOT_RECORDS[damage](store)
    store.append(measurement("a", ((1100.0,),), repeat=1))
    path = store.directory / MEASUREMENTS_FILE
    first, second = path.read_text().splitlines()
    path.write_text(f"{first}\n{line}\n{second}\n")
    return store


@pytest.mark.parametrize("damage", list(NOT_RECORDS))
@pytest.mark.parametrize("command", [["compare", "run1", "run1"], ["check", "run1"], ["report", "run1"]])
def test_a_middle_line_that_is_json_but_not_a_record_is_one_line_naming_it(
        damage: str, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = _damaged_run(tmp_path, damage)
    monkeypatch.chdir(tmp_path)
    assert cli_main([*command, *(["--results", str(tmp_path)] if command[0] != "report" else [])]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("benchlab: error: ") and "run1/measurements.jsonl:2: not a measurement record" in line
    with pytest.raises(StoreError, match=":2: not a measurement record"):
        store.progress()  # what `run --resume` reads first


@pytest.mark.parametrize("damage", list(NOT_RECORDS))
def test_history_skips_and_names_a_damaged_run(damage: str, tmp_path: Path, capsys: pytest.CaptureFixture,
                                               caplog: pytest.LogCaptureFixture) -> None:
    store = _damaged_run(tmp_path, damage)
    good = RunStore(tmp_path / "run2")
    good.create(RunMeta(suite_name="s", harness_version="0", started_at="now"))
    good.append(replace(measurement("a", ((1000.0,),)), run_id="run2"))
    assert cli_main(["history", str(tmp_path)]) == 0
    assert "run2" in capsys.readouterr().out
    assert f"skipped run {store.directory}: " in caplog.text


@pytest.mark.parametrize("text", ["{not json", "[]", '{"schema_version": 3, "devices": [1]}'])
@pytest.mark.parametrize("command", ["compare", "report"])
def test_a_damaged_run_json_is_one_line_naming_it(text: str, command: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    store = _one_repeat_run(tmp_path)
    (store.directory / "run.json").write_text(text)
    argv = ["report", str(store.directory)] if command == "report" else ["compare", "run1", "run1", "--results",
                                                                          str(tmp_path)]
    assert cli_main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("benchlab: error: ") and "run1/run.json: not " in line


@pytest.mark.parametrize("where", ["parent-is-a-file", "proc"])
@pytest.mark.parametrize("command", ["history --csv", "compare --junit"])
def test_an_output_path_that_cannot_be_written_is_one_line_naming_it(where: str, command: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    store = _one_repeat_run(tmp_path)
    shutil.copytree(store.directory, tmp_path / "run0")
    (tmp_path / "a-file").write_text("")
    target = tmp_path / "a-file" / "out" if where == "parent-is-a-file" else Path("/proc/benchlab/out")
    argv = (["history", str(tmp_path), "--csv", str(target)] if command == "history --csv"
            else ["compare", "run0", "run1", "--results", str(tmp_path), "--junit", str(target)])
    assert cli_main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith(f"benchlab: error: cannot write {target}: ") and len(lines) == 1, lines
