"""Real iPhones: `pytest tests/ios/test_real_iphone.py --device ios:UDID` (skipped without --device).

The phone must be paired, in Developer Mode, with the runner app installed (or
BENCHLAB_IOS_RUNNER_IPA set) and, without developer services (iOS 17+ without
`sudo pymobiledevice3 remote tunneld`), the app open in the foreground.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import benchlab
import benchlab.execute.devices
import ios_runner
from benchlab.cli import main

pytestmark = pytest.mark.device


@pytest.fixture()
def udids(request: pytest.FixtureRequest) -> list[str]:
    return [s.removeprefix("ios:") for s in request.config.getoption("--device") if s.startswith("ios:")]


def test_a_real_iphone_runs_core_ml_and_litert(udids: list[str], tmp_path: Path, tiny_keras_path: Path,
                                               digits_npz: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not udids:
        pytest.skip("no ios:UDID among --device values")
    registered = benchlab.execute.devices._runner_discoverers
    monkeypatch.setattr(benchlab.execute.devices, "_runner_discoverers", lambda: {**registered(), "ios": ios_runner.discover})
    suite = {
        "name": "iphone-check",
        "models": [{"name": "tiny", "path": str(tiny_keras_path)}],
        "dataset": {"npz": str(digits_npz), "limit": 20},
        "variants": ["fp32", "coreml-fp16"],
        "targets": [f"ios:{udid}" for udid in udids],
        "accelerators": [{"kind": "cpu", "threads": 1},
                         {"kind": "coreml", "options": {"compute_units": "cpuOnly"}},
                         {"kind": "coreml", "options": {"compute_units": "all"}}],
        "scenario": {"warmup": 2, "iterations": 20, "repeats": 2, "timeout_seconds": 300},
    }
    path = tmp_path / "iphone.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    df = benchlab.load_results(next((tmp_path / "results").iterdir()))
    coreml = df[df["format"] == "mlpackage"]
    assert set(coreml["status"]) == {"ok"}, coreml["error"].tolist()
    assert coreml["latency_ms_median"].gt(0).all() and coreml["accuracy"].notna().all()
    assert (coreml["runner"] == "benchlab-ios-runner").all()
