"""Every benchmark still runs: nothing else runs them, so an API they reach into (a renamed module, a
model's copy named by its bytes on the phone) would break them silently. Each runs at its `--smoke`
size in its own process, under a generous time limit; the figures are not checked, only that the
benchmark ran to its last line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Far above a smoke run's time on a loaded machine; reached only by a hang.
TIME_LIMIT_SECONDS = 900
#: The last thing each benchmark prints when it ran through.
LAST_LINES = {
    "android_eval.py": "outputs on the shared samples identical: True",
    "android_push.py": "re-run prepare() with the same bytes on the phone",
    "host_latency.py": "benchmark_litert_model (2-decimal ms)",
    "host_pte.py": "host device within 1.05x of the bare loop",
    "farm.py": "wall/wall(1)",
    "validity.py": "minimum detectable change",
    "make_history.py": "repeat records in",
    "history_scale.py": "trend plots",
}
#: These build or train real models, or start a Dask farm: minutes on a shared machine.
SLOW = {"host_latency.py", "host_pte.py", "farm.py", "validity.py"}


@pytest.mark.parametrize("script", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
                                    for name in LAST_LINES])
def test_each_benchmark_runs_at_its_smoke_size(script: str, tmp_path: Path) -> None:
    assert sorted(LAST_LINES) == sorted(p.name for p in (REPO / "benchmarks").glob("*.py"))  # none forgotten
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--smoke"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=TIME_LIMIT_SECONDS,
                          env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3",
                               "TMPDIR": str(tmp_path)})  # validity keeps its runs in a temporary folder
    assert done.returncode == 0, done.stderr[-3000:]
    assert LAST_LINES[script] in done.stdout, done.stdout[-3000:]


def test_farm_refuses_network_namespaces_without_ip_in_one_line(tmp_path: Path) -> None:
    """Without iproute2's `ip` (or root) farm.py says so in one line and exits 2 before it makes
    anything; --no-netns is the way on."""
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "farm.py"), "--phones", "2", "--workers", "2"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=TIME_LIMIT_SECONDS,
                          env={**os.environ, "PYTHONPATH": str(REPO), "PATH": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "--no-netns" in done.stderr and ("root" in done.stderr or "`ip`" in done.stderr)
    assert not list(tmp_path.iterdir())  # nothing made
