"""A full disk, wherever it strikes: exit 3 with "disk full at <path>", nothing measured lost, no
half-written file or run, never a cached failure, and `--resume` (or a rerun) finishes once there
is space. The disk is filled by making one write raise ENOSPC, as the kernel does; /dev/full
answers every write so for the worker, which runs in its own process."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import benchlab.execute.host_device as host_device
from benchlab.cli import main
from benchlab.execute.host_device import EXIT_DISK_FULL
from benchlab.optimize.recipes import RECIPES
from benchlab.results.layout import MEASUREMENTS_FILE, MEASUREMENTS_PARQUET, RUN_FILE, SAMPLES_PARQUET


def _enospc(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _suite(tmp_path: Path, model: Path) -> Path:
    np.savez(tmp_path / "data.npz", inputs=np.zeros((4, 28, 28, 1), np.float32), labels=np.arange(4))
    suite = {"name": "full", "models": [{"name": "m", "path": str(model)}], "dataset": {"npz": "data.npz"},
             "variants": ["tflite"], "accelerators": [{"kind": "cpu", "threads": 1}],
             "scenario": {"warmup": 0, "iterations": 2, "repeats": 2}}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    return tmp_path / "suite.yaml"


def _run_on_full_disk(monkeypatch: pytest.MonkeyPatch, owner: object, writer: str, suite: Path,
                      results: Path) -> int:
    """Return the exit code of `benchlab run` while `owner.writer` finds the disk full."""
    with monkeypatch.context() as patched:
        patched.setattr(owner, writer, _enospc)
        return main(["run", str(suite), "--results", str(results)])


def _error_line(capsys: pytest.CaptureFixture) -> str:
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("benchlab: error: ")]
    assert len(errors) == 1, errors
    return errors[0]


def test_disk_full_writing_the_inputs_leaves_no_run_and_a_rerun_finishes(
        tmp_path: Path, tiny_tflite_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import benchlab.tensors

    suite, results = _suite(tmp_path, tiny_tflite_path), tmp_path / "results"
    assert _run_on_full_disk(monkeypatch, benchlab.tensors, "save_feeds", suite, results) == 3
    line = _error_line(capsys)
    assert "disk full at " in line and "/inputs/m.npz" in line and "run the suite again" in line
    assert list(results.iterdir()) == []  # nothing measured yet: no half-written run to resume
    assert main(["run", str(suite), "--results", str(results)]) == 0


def test_disk_full_at_the_finish_keeps_every_repeat_and_resume_finishes(
        tmp_path: Path, tiny_tflite_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    suite, results = _suite(tmp_path, tiny_tflite_path), tmp_path / "results"
    assert _run_on_full_disk(monkeypatch, pd.DataFrame, "to_parquet", suite, results) == 3
    (run,) = results.iterdir()
    assert f"disk full at {run / MEASUREMENTS_PARQUET}" in _error_line(capsys)
    measured = (run / MEASUREMENTS_FILE).read_text()
    assert len(measured.splitlines()) == 2  # both repeats kept
    assert json.loads((run / RUN_FILE).read_text())["finished_at"] is None  # not marked finished
    assert sorted(p.name for p in run.iterdir() if "parquet" in p.name) == []  # no partial table

    assert main(["run", "--resume", str(run), "--results", str(results)]) == 0
    assert (run / MEASUREMENTS_FILE).read_text() == measured  # nothing measured again
    assert json.loads((run / RUN_FILE).read_text())["finished_at"] is not None
    assert (run / MEASUREMENTS_PARQUET).exists() and (run / SAMPLES_PARQUET).exists()


@pytest.mark.parametrize("how", ["OSError", "wrapped by the converter"])
def test_disk_full_while_building_is_never_a_cached_failure(how: str, tmp_path: Path, tiny_tflite_path: Path,
                                                            capsys: pytest.CaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    suite = _suite(tmp_path, tiny_tflite_path)

    def full(*_args: object) -> None:
        if how == "OSError":
            _enospc()
        try:
            _enospc()
        except OSError as exc:
            raise RuntimeError("converter failed") from exc

    with monkeypatch.context() as patched:
        patched.setattr(type(RECIPES["tflite"]), "build", full)
        assert main(["optimize", str(suite)]) == 3
    assert f"disk full at {tmp_path / 'cache' / 'variants'}" in _error_line(capsys)
    assert not list((tmp_path / "cache").rglob("failure.json")) and not list((tmp_path / "cache").rglob("*.partial-*"))
    assert main(["optimize", str(suite)]) == 0
    assert "1 built" in capsys.readouterr().err


def test_a_worker_that_finds_the_disk_full_says_so_and_exits_with_its_own_code(tmp_path: Path,
                                                                               tiny_tflite_path: Path) -> None:
    request = {"format": "tflite", "model_path": str(tiny_tflite_path), "threads": 1, "xnnpack": True,
               "warmup": 0, "iterations": 1,
               "min_seconds": 0, "max_seconds": 10, "eval_inputs_path": None, "outputs_path": None,
               "result_path": "/dev/full"}
    (tmp_path / "request.json").write_text(json.dumps(request))
    done = subprocess.run([sys.executable, "-m", host_device.WORKER_MODULE, str(tmp_path / "request.json")],
                          capture_output=True, text=True, timeout=300)
    # The worker's folder is named (the result file and the outputs are written there).
    assert done.returncode == EXIT_DISK_FULL and done.stderr.strip().endswith("disk full at /dev")
