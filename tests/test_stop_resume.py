"""Stopping a real `benchlab run` with real signals, and resuming it; runs that share a machine.

Each test starts `benchlab run` as its own process on this machine's CPU, waits (bounded) until it
has stored some repeats, signals it, and checks what a user would: the exit code, the resume
command printed, the report of what finished, no worker process or temporary folder left behind,
and that `--resume` finishes exactly what is missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import benchlab
from benchlab.cli import main
from benchlab.results.layout import MEASUREMENTS_FILE, RUN_FILE
from benchlab.results.run_meta import RunMeta
from benchlab.results.store import RunStore
from benchlab.temp_dirs import sweep_stale

#: Upper bounds only: a test waits for a state, never asserts how long it took.
WAIT_SECONDS = 240


def write_suite(folder: Path, models: list[dict], digits_npz: Path, repeats: int = 6) -> Path:
    suite = {"name": "stoppable", "models": models, "dataset": {"npz": str(digits_npz), "limit": 20},
             "variants": ["tflite"],
             "accelerators": [{"kind": "cpu", "threads": 1}, {"kind": "cpu", "threads": 2}],
             "scenario": {"warmup": 1, "iterations": 10, "min_seconds": 0.3, "repeats": repeats}}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def start_run(suite: Path, results: Path, tmp: Path) -> subprocess.Popen:
    """Start `benchlab run`; its stderr goes to tmp/../stderr.txt so a test can wait for a message."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    stderr = open(tmp.parent / f"stderr-{time.monotonic_ns()}.txt", "w")  # noqa: SIM115 - closed by the caller
    run = subprocess.Popen([sys.executable, "-m", "benchlab.cli", "run", str(suite), "--results", str(results)],
                           stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    run.stderr_path = Path(stderr.name)  # type: ignore[attr-defined]
    stderr.close()
    return run


def finish(run: subprocess.Popen) -> tuple[str, str]:
    """Wait (bounded) for a started run; return its stdout and stderr."""
    out, _ = run.communicate(timeout=WAIT_SECONDS)
    return out, run.stderr_path.read_text()  # type: ignore[attr-defined]


def wait_for(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def stored_repeats(results: Path) -> list[dict]:
    runs = [p for p in results.iterdir() if (p / MEASUREMENTS_FILE).exists()] if results.exists() else []
    if not runs:
        return []
    lines = (runs[0] / MEASUREMENTS_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def workers_of(pid: int) -> list[int]:
    """Host worker processes started by benchlab process `pid` (they carry its pid in their environment)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"BENCHLAB_PARENT_PID={pid}".encode() in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


@pytest.fixture()
def stoppable(tmp_path: Path, tiny_tflite_path: Path, digits_npz: Path) -> Iterator[tuple[Path, Path, Path]]:
    suite = write_suite(tmp_path, [{"name": "tiny", "path": str(tiny_tflite_path)}], digits_npz)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    yield suite, tmp_path / "results", scratch


@pytest.mark.parametrize("first_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_dispatching_writes_the_report_and_resume_finishes(stoppable, first_signal: int) -> None:
    suite, results, scratch = stoppable
    run = start_run(suite, results, scratch)
    wait_for(lambda: len(stored_repeats(results)) >= 2, "two stored repeats")
    run.send_signal(first_signal)
    out, err = finish(run)
    assert run.returncode == 130, err
    (run_dir,) = list(results.iterdir())
    assert f"benchlab run --resume {run_dir.name} --results {results}" in out + err
    assert (run_dir / "report.html").stat().st_size > 0  # the report of what finished
    assert json.loads((run_dir / RUN_FILE).read_text())["finished_at"] is None
    stopped = stored_repeats(results)
    assert 2 <= len(stopped) < 12 and all(r["status"] == "ok" for r in stopped)  # in-flight repeats finished
    assert list(scratch.iterdir()) == []  # temporary folders removed

    assert main(["run", "--resume", run_dir.name, "--results", str(results)]) == 0
    finished = stored_repeats(results)
    keys = [(r["job_id"], r["repeat"]) for r in finished]
    assert len(keys) == len(set(keys)) == 12  # 2 jobs x 6 repeats, none twice, none lost
    assert keys[:len(stopped)] == [(r["job_id"], r["repeat"]) for r in stopped]  # kept, not re-run
    assert json.loads((run_dir / RUN_FILE).read_text())["finished_at"]
    assert (benchlab.load_results(run_dir)["latency_repeats"] == 6).all()


def test_a_second_signal_aborts_at_once_and_leaves_no_worker(stoppable) -> None:
    suite, results, scratch = stoppable
    run = start_run(suite, results, scratch)
    wait_for(lambda: len(stored_repeats(results)) >= 1 and workers_of(run.pid), "a worker in flight")
    run.send_signal(signal.SIGINT)
    # Signals do not queue: the second is sent once the first was handled, as a person would.
    wait_for(lambda: "stopping after the repeats in flight" in run.stderr_path.read_text(), "the first signal")
    run.send_signal(signal.SIGINT)
    out, err = finish(run)
    assert run.returncode == 130 and "aborted" in err
    wait_for(lambda: not workers_of(run.pid), "the aborted worker to be gone")
    (run_dir,) = list(results.iterdir())
    assert f"benchlab run --resume {run_dir.name}" in err
    assert main(["run", "--resume", run_dir.name, "--results", str(results)]) == 0
    ok = [(r["job_id"], r["repeat"]) for r in stored_repeats(results) if r["status"] == "ok"]
    assert len(ok) == len(set(ok)) == 12


def test_workers_die_with_a_killed_benchlab(stoppable) -> None:
    suite, results, scratch = stoppable
    run = start_run(suite, results, scratch)
    wait_for(lambda: workers_of(run.pid), "a worker in flight")
    workers = workers_of(run.pid)
    run.kill()
    finish(run)
    wait_for(lambda: not any(Path(f"/proc/{w}").exists() for w in workers), "orphaned workers to die")
    assert any(scratch.glob("benchlab-host@*"))  # SIGKILL ran no cleanup ...
    sweep_stale(scratch)  # ... so the next benchlab sweeps what it left
    assert not any(scratch.glob("benchlab-*"))


def test_a_run_in_which_no_job_measured_exits_3_and_counts_failures_by_cause(
        tmp_path: Path, custom_op_tflite_path: Path, digits_npz: Path, capsys: pytest.CaptureFixture) -> None:
    suite = write_suite(tmp_path, [{"name": "custom", "path": str(custom_op_tflite_path)}], digits_npz, repeats=2)
    assert main(["run", str(suite), "--results", str(tmp_path / "results")]) == 3
    err = capsys.readouterr().err
    assert "jobs: 2 failed (model)" in err and "no job measured anything" in err
    (run_dir,) = list((tmp_path / "results").iterdir())
    # A model failure is not retried by --resume; --retry-failed runs it again (and it fails again).
    assert main(["run", "--resume", run_dir.name, "--results", str(tmp_path / "results")]) == 3
    assert len(stored_repeats(tmp_path / "results")) == 2
    assert main(["run", "--resume", run_dir.name, "--retry-failed", "--results", str(tmp_path / "results")]) == 3
    assert len(stored_repeats(tmp_path / "results")) == 4


def test_two_runs_started_together_get_their_own_run_folders(tmp_path: Path, tiny_tflite_path: Path,
                                                            digits_npz: Path) -> None:
    suite = write_suite(tmp_path, [{"name": "tiny", "path": str(tiny_tflite_path)}], digits_npz, repeats=1)
    results = tmp_path / "results"
    runs = [start_run(suite, results, tmp_path) for _ in range(2)]
    outputs = [finish(run) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    folders = sorted(p.name for p in results.iterdir())
    assert len(folders) == 2 and all(len(json.loads((results / f / RUN_FILE).read_text())["variants"]) == 1
                                     for f in folders)


def test_a_run_being_measured_refuses_a_second_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = RunStore(tmp_path / "results" / "20260101-000000-s")
    store.create(RunMeta(suite_name="s", started_at="now"))
    with store.exclusive():  # as the first `run` or `run --resume` holds it while it measures
        assert main(["run", "--resume", str(store.directory)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"benchlab: error: {store.directory} is being measured by another benchlab process")
    assert not (store.directory / MEASUREMENTS_FILE).exists()
    with store.exclusive():  # released by its holder (and by the kernel when a holder dies)
        pass


@pytest.mark.parametrize("run_dir, results, command", [
    ("results/20260101-x", "results", "benchlab run --resume 20260101-x"),
    ("out/20260101-x", "out", "benchlab run --resume 20260101-x --results out"),
    ("/elsewhere/my runs/20260101-x", "results", "benchlab run --resume '/elsewhere/my runs/20260101-x'"),
])
def test_the_resume_command_printed_can_be_pasted(run_dir: str, results: str, command: str) -> None:
    from benchlab.views.console import resume_command as _resume_command

    assert _resume_command(Path(run_dir), Path(results)) == command


def test_a_stop_before_any_run_folder_exists_offers_nothing_to_resume(tmp_path: Path, tiny_tflite_path: Path,
                                                                     digits_npz: Path, capsys: pytest.CaptureFixture,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import benchlab.pipeline

    def ctrl_c(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(benchlab.pipeline, "load_model_datasets", ctrl_c)
    suite = write_suite(tmp_path, [{"name": "tiny", "path": str(tiny_tflite_path)}], digits_npz)
    assert main(["run", str(suite), "--results", str(tmp_path / "results")]) == 130
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "interrupted before benchmarking: nothing was measured" in line and "--resume" not in line
    assert not (tmp_path / "results").exists()
