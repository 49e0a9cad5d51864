"""Real phones: `pytest tests/device --device SERIAL` (skipped without --device)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import benchlab
from benchlab.cli import main

pytestmark = pytest.mark.device


@pytest.fixture()
def serials(request: pytest.FixtureRequest) -> list[str]:
    return [s for s in request.config.getoption("--device") if not s.startswith("ios:")]


def test_a_real_phone_runs_a_tiny_suite(serials: list[str], tmp_path: Path, tiny_keras_path: Path,
                                        digits_npz: Path) -> None:
    if not serials:
        pytest.skip("no Android serial among --device values")
    suite = {
        "name": "device-check",
        "models": [{"name": "tiny", "path": str(tiny_keras_path)}],
        "dataset": {"npz": str(digits_npz), "limit": 20},
        "variants": ["fp32", "full-int8"],
        "targets": [f"android:{s}" for s in serials],
        "accelerators": [{"kind": "cpu", "threads": 1}, {"kind": "gpu"}],
        "scenario": {"warmup": 2, "iterations": 20, "repeats": 3},
    }
    path = tmp_path / "device.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    df = benchlab.load_results(next((tmp_path / "results").iterdir()))
    cpu = df[df["accelerator"] == "cpu-t1"]
    assert set(cpu["status"]) == {"ok"}, cpu["error"].tolist()
    assert cpu["latency_ms_median"].gt(0).all() and cpu["accuracy"].notna().all()
