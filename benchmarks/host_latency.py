"""Is the host device's latency honest? Compare it with a bare invoke() loop and LiteRT's own tool.

Prints, for the quickstart model's fp32 variant at the same thread count:
  * benchlab's host device (worker process, every iteration timed),
  * a bare `Interpreter.invoke()` loop in this process, timed the same way,
  * `python -m ai_edge_litert.tools.benchmark_litert_model` (LiteRT's CompiledModel API; it prints
    milliseconds with two decimals, so its figure is coarse for sub-millisecond models),
then the wall time of a first `benchlab optimize suites/quickstart.yaml` on an empty cache
(trains the built-in model, builds 10 variants) and of a second one (everything cached).

Run: `.venv/bin/python benchmarks/host_latency.py [--threads 1] [--iterations 300]` (`--smoke`: a tiny
size that only checks it still runs; tests/test_benchmarks.py runs it so).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "suites" / "quickstart.yaml"


def fp32_variant_path() -> Path:
    """Build (or reuse) the quickstart fp32 variant and return its path."""
    from benchlab.plan.datasets import load_model_datasets
    from benchlab.optimize.build import build_variants
    from benchlab.optimize.recipes import RECIPES
    from benchlab.plan.suite import load_suite

    suite = load_suite(QUICKSTART, RECIPES)
    suite = suite.model_copy(update={"variants": [v for v in suite.variants if v.recipe == "fp32"]})
    (variant,) = build_variants(suite, load_model_datasets(suite))
    return Path(variant.path)


def host_device_median_ms(model: Path, threads: int, iterations: int, warmup: int) -> float:
    from benchlab.execute.host_device import HostDevice
    from benchlab.records import AcceleratorSetting, Job, Scenario, Variant
    from benchlab.metrics.stats import summarize

    variant = Variant(model="quickstart", name="fp32", recipe="fp32", format="tflite", status="built", path=str(model))
    job = Job(job_id="bench", run_id="bench", suite="bench", variant=variant, device_id="host",
              accelerator=AcceleratorSetting(name=f"cpu-t{threads}", kind="cpu", threads=threads),
              scenario=Scenario(warmup=warmup, iterations=iterations))
    measurement = HostDevice().run(job)
    if measurement.status != "ok":
        raise SystemExit(f"host device failed: {measurement.error}")
    return summarize(measurement.samples_us).median_ms


def bare_loop_median_ms(model: Path, threads: int, iterations: int, warmup: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.random.default_rng(0).random(detail["shape"], dtype=np.float32))
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(iterations):
        started = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - started) / 1e6)
    return statistics.median(times)


def litert_tool_median_ms(model: Path, threads: int, iterations: int, warmup: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        subprocess.run([sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", f"--model={model}",
                        f"--num_threads={threads}", f"--num_runs={iterations}", f"--warmup_runs={warmup}",
                        f"--result_json={result}"], check=True, capture_output=True)
        return float(json.loads(result.read_text())["latency"]["median_ms"])


def optimize_seconds(cache: Path) -> float:
    env = {**os.environ, "BENCHLAB_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "benchlab"), "optimize", str(QUICKSTART)], env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--skip-optimize", action="store_true", help="skip the optimize timings")
    parser.add_argument("--smoke", action="store_true", help="a tiny size that only checks the benchmark still runs")
    args = parser.parse_args()
    if args.smoke:
        args.iterations, args.warmup, args.skip_optimize = 20, 2, True

    model = fp32_variant_path()
    figures = {
        "benchlab host device": host_device_median_ms(model, args.threads, args.iterations, args.warmup),
        "bare Interpreter.invoke() loop": bare_loop_median_ms(model, args.threads, args.iterations, args.warmup),
        "benchmark_litert_model (2-decimal ms)": litert_tool_median_ms(model, args.threads, args.iterations,
                                                                        args.warmup),
    }
    bare = figures["bare Interpreter.invoke() loop"]
    print(f"quickstart fp32 ({model.stat().st_size / 1024:.0f} KB), {args.threads} thread(s), "
          f"{args.iterations} iterations after {args.warmup} warmup")
    print(f"{'runner':40s} {'median ms':>10s} {'vs bare loop':>13s}")
    for name, median in figures.items():
        print(f"{name:40s} {median:10.4f} {median / bare:12.2f}x")
    if not args.skip_optimize:
        with tempfile.TemporaryDirectory() as cache:
            first = optimize_seconds(Path(cache))
            second = optimize_seconds(Path(cache))
        print(f"\nbenchlab optimize suites/quickstart.yaml, empty cache (trains model, builds 10 variants): {first:6.1f} s")
        print(f"benchlab optimize suites/quickstart.yaml, second run (all reused from cache):          {second:6.1f} s")


if __name__ == "__main__":
    main()
