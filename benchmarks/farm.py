"""Orchestration cost of a device farm: one suite on 1, 2 and 4 loopback phones over 2 workers.

A real Dask scheduler and two `benchlab worker` processes run on this machine, each owning two
loopback phones (real ADB wire protocol on 127.0.0.1; the phones are served from a process of their
own, so their ADB servers do not share this process's interpreter lock). The client runs the same suite against the
first 1, 2 and 4 phones (spread over both workers) through `DaskExecutor`, and reports:

- wall: seconds `DaskExecutor.execute` took (ship, submit, run, stream every repeat into the store);
- busy: per phone, the sum over its repeats of the device's own time (each record's started_at to
  finished_at: conditions, benchmark_model, evaluation, conditions again);
- wall / wall(1 phone): goal <= 1.3 at 4 phones (phones measure in parallel);
- overhead: (wall - busy) / busy of the phone with the least busy time (the worst case): what the
  harness adds around the device's work; goal <= 15 %.

Loopback phones share this machine's two cores while a real phone computes on its own chip, so the
phones here **replay** a recorded real run (android_runner/loopback/replay.py): each inference runs the
tiny model for real and then waits out the average latency of a MobileNet v1 quant run recorded on
an arm64 phone (shared/fixtures/benchmark_model/old_v1x_mobilenetv1_quant_arm64_multi.txt,
66.8 ms). The figures therefore measure orchestration, not this machine's CPU. A first run on all
four phones (not counted) pushes the runner and model to each phone and ships the files to each
worker, as the first night of a farm does.

Run: `.venv/bin/python benchmarks/farm.py [--repeats 3] [--iterations 20] [--out farm.json]`
(raw per-repeat intervals of every run go to the JSON file; `--smoke`: a tiny size that only checks
it still runs, as tests/test_benchmarks.py does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's benchlab and android_runner (its loopback phone)

from benchlab.execute.farm import DaskExecutor, cluster_session  # noqa: E402
from benchlab.pipeline import Callbacks, run_suite  # noqa: E402
from benchlab.results.store import read_repeat_records  # noqa: E402
from benchlab.optimize.recipes import RECIPES  # noqa: E402
from benchlab.plan.suite import load_suite  # noqa: E402
from android_runner.loopback import FLAGSHIP  # noqa: E402
from android_runner.loopback.farm import LoopbackFarm  # noqa: E402
from android_runner.loopback.replay import replaying  # noqa: E402

#: The recorded real-device outputs live beside the clone, in shared/fixtures (as for the tests).
RECORDED = REPO.parent / "shared" / "fixtures" / "benchmark_model" / "old_v1x_mobilenetv1_quant_arm64_multi.txt"


def small_model(path: Path) -> Path:
    """Write a small float32 .tflite (two convolutions on 28x28x1, untrained: timing only)."""
    import tensorflow as tf

    model = tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)), tf.keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
        tf.keras.layers.Conv2D(16, 3, strides=2, activation="relu"), tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def digits(path: Path) -> Path:
    """Write 8 real MNIST digits with labels as an npz dataset."""
    import numpy as np

    from benchlab.plan.datasets import mnist_splits

    _, _, eval_x, eval_y = mnist_splits()
    np.savez(path, inputs=eval_x[:8], labels=eval_y[:8])
    return path


@contextmanager
def served_phones(root: Path, specs: list[str]) -> Iterator[list[str]]:
    """Serve loopback phones from their own process (not this one's interpreter lock); yield serials."""
    root.mkdir(parents=True)
    process = subprocess.Popen([sys.executable, "-m", "android_runner.loopback.serve_phones", str(root), *specs],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, text=True)
    try:
        yield json.loads(process.stdout.readline())
    finally:
        process.stdin.close()  # it stops its phones and exits
        process.wait(timeout=60)


class TimedExecutor:
    """DaskExecutor, with the wall time of its execute() kept."""

    def __init__(self, inner: DaskExecutor) -> None:
        self.inner = inner
        self.seconds = 0.0

    def execute(self, repeats, devices, sink, stop=None) -> None:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        self.inner.execute(repeats, devices, sink, stop)
        self.seconds = time.perf_counter() - started

    def sustain(self, jobs, devices, sink, stop, latencies_us, say) -> None:  # type: ignore[no-untyped-def]
        self.inner.sustain(jobs, devices, sink, stop, latencies_us, say)


def suite_file(root: Path, model: Path, data: Path, serials: list[str], repeats: int, iterations: int) -> Path:
    import yaml

    path = root / f"farm-{len(serials)}.yaml"
    path.write_text(yaml.safe_dump({
        "name": f"farm-{len(serials)}-phones",
        "models": [{"name": "small", "path": str(model)}],
        "dataset": {"npz": str(data), "limit": 2},
        "variants": ["tflite"],
        "targets": [f"android:{s}" for s in serials],
        "accelerators": [{"kind": "cpu", "threads": 1}, {"kind": "cpu", "threads": 2}],
        "scenario": {"warmup": 1, "iterations": iterations, "min_seconds": 0, "repeats": repeats},
    }))
    return path


def run_once(farm: LoopbackFarm, suite_path: Path, results: Path) -> dict:
    """Run one suite on the farm; return wall, per-phone busy seconds and raw intervals."""
    with cluster_session(farm.address) as (devices, executor):
        timed = TimedExecutor(executor)
        outcome = run_suite(load_suite(suite_path, RECIPES), suite_path, results, Callbacks(say=lambda _m: None),
                            devices=devices, executor=timed)
    records = read_repeat_records(outcome.run_dir)
    if {r.status for r in records} != {"ok"}:
        raise RuntimeError(f"not every repeat measured: {[(r.job_id, r.status, r.error) for r in records]}")
    intervals: dict[str, list[tuple[str, str]]] = {}
    for r in records:
        intervals.setdefault(r.device.id, []).append((r.started_at, r.finished_at))
    busy = {device: sum((datetime.fromisoformat(f) - datetime.fromisoformat(s)).total_seconds() for s, f in spans)
            for device, spans in intervals.items()}
    return {"phones": len(busy), "wall_s": timed.seconds, "busy_s": busy, "intervals": intervals,
            "run_dir": str(outcome.run_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="write every run's raw intervals here (JSON)")
    parser.add_argument("--smoke", action="store_true", help="a tiny size that only checks the benchmark still runs")
    args = parser.parse_args()
    if args.smoke:
        args.repeats, args.iterations = 1, 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory(prefix="benchlab-farm-") as tmp:
        root = Path(tmp)
        os.environ["BENCHLAB_CACHE_DIR"] = str(root / "client-cache")
        model, data = small_model(root / "small.tflite"), digits(root / "digits.npz")
        phone = replaying(FLAGSHIP, RECORDED)
        with served_phones(root / "phones", [f"{FLAGSHIP.name}@{RECORDED}"] * 4) as spread, \
                LoopbackFarm(root, {}, served={"w1": spread[0::2], "w2": spread[1::2]}) as farm:
            # spread alternates workers: 2 phones are one per worker, 4 are two per worker
            run_once(farm, suite_file(root, model, data, spread, 1, args.iterations), root / "warmup")
            runs = [run_once(farm, suite_file(root, model, data, spread[:n], args.repeats, args.iterations),
                             root / f"results-{n}") for n in (1, 2, 4)]
    print(f"replayed latency: {phone.replay_inference_us / 1000:.1f} ms per inference ({phone.recorded_from}); "
          f"{args.repeats} repeats x 2 jobs per phone, {args.iterations} iterations each")
    print(f"{'phones':>6} {'wall s':>8} {'sum busy s':>11} {'least busy s':>13} {'wall/wall(1)':>13} {'overhead':>9}")
    for run in runs:
        least = min(run["busy_s"].values())
        print(f"{run['phones']:>6} {run['wall_s']:>8.2f} {sum(run['busy_s'].values()):>11.2f} {least:>13.2f} "
              f"{run['wall_s'] / runs[0]['wall_s']:>13.2f} {100 * (run['wall_s'] - least) / least:>8.1f}%")
    if args.out:
        args.out.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
