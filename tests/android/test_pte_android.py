"""An ExecuTorch .pte on an Android phone: executor_runner added with `benchlab tools add`, pushed, run from adb
shell on the loopback phone (its stand-in executes the program with executorch.runtime), timed from the
runner's per-iteration lines and its outputs pulled for fidelity; without a runner, one line says how to
build one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

import benchlab
from benchlab.cli import main
from android_runner.loopback import FLAGSHIP, LoopbackAdbDevice

#: An ELF header for aarch64 (e_machine 0xB7 at byte 18): what `tools add` reads of a built runner.
AARCH64_ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + b"\xb7\x00" + b"\0" * 44


@pytest.fixture(scope="module")
def tiny_pte(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real .pte: Linear(8, 4) + ReLU lowered to XNNPACK, with 3 evaluation samples beside it."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU()).eval()
    exported = torch.export.export(model, (torch.rand(1, 8),))
    folder = tmp_path_factory.mktemp("pte")
    path = folder / "tiny.pte"
    path.write_bytes(to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch().buffer)
    np.savez(folder / "data.npz", inputs=np.random.default_rng(0).random((3, 8), dtype=np.float32))
    return path


@pytest.fixture()
def phone(tmp_path: Path, android_loopback_env: None) -> Iterator[LoopbackAdbDevice]:
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_new_keys=True) as device:
        yield device


def _suite(tmp_path: Path, model: Path, serial: str) -> Path:
    path = tmp_path / "pte.yaml"
    path.write_text(yaml.safe_dump({
        "name": "pte-android", "models": [{"name": "tiny", "path": str(model)}],
        "dataset": {"npz": str(model.with_name("data.npz"))}, "variants": ["pte"],
        "targets": [f"android:{serial}"], "accelerators": [{"kind": "cpu", "threads": 1}],
        "scenario": {"warmup": 1, "iterations": 4, "repeats": 2}}))
    return path


def test_a_pte_runs_on_the_phone_through_the_executor_runner_the_user_added(
        tmp_path: Path, phone: LoopbackAdbDevice, tiny_pte: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("BENCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    built = tmp_path / "executor_runner"
    built.write_bytes(AARCH64_ELF + b"placeholder: the loopback phone runs its executor_runner stand-in\n")
    assert main(["tools", "add", "android", "executor_runner", str(built)]) == 0
    assert "arm64-v8a" in capsys.readouterr().err  # the console prints progress to stderr
    results = tmp_path / "results"
    assert main(["run", str(_suite(tmp_path, tiny_pte, phone.serial)), "--results", str(results)]) == 0
    (run_dir,) = results.iterdir()
    row = benchlab.load_results(run_dir).iloc[0]
    assert (row["status"], row["runner"], row["format"]) == ("ok", "executor_runner", "pte"), row["error"]
    assert row["latency_repeats"] == 2 and row["latency_count"] == 8  # 4 timed executions of 6 per repeat
    assert row["fidelity_worst_cosine"] == pytest.approx(1.0)  # its outputs came back from the phone
    assert phone.host_path("/data/local/tmp/benchlab/executor_runner").is_file()


def test_without_an_executor_runner_the_row_says_how_to_build_one(
        tmp_path: Path, phone: LoopbackAdbDevice, tiny_pte: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    results = tmp_path / "results"
    main(["run", str(_suite(tmp_path, tiny_pte, phone.serial)), "--results", str(results)])
    (run_dir,) = results.iterdir()
    row = benchlab.load_results(run_dir).iloc[0]
    assert row["status"] == "failed" and "\n" not in row["error"]
    assert row["error"].startswith("no executor_runner for arm64-v8a: build it in an ExecuTorch checkout")
    assert row["failure_cause"] == "harness"  # `--resume` runs it once one is added
    assert "benchlab tools add android executor_runner PATH" in row["error"]


def test_adding_something_that_is_not_an_android_binary_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text = tmp_path / "runner.sh"
    text.write_text("#!/bin/sh\n")
    assert main(["tools", "add", "android", "executor_runner", str(text)]) == 2
    assert "is not an Android binary" in capsys.readouterr().err
