"""Is the host device's .pte latency honest? Compare it with a bare executorch.runtime loop.

Prints, for examples/torch_models.py's small CNN built by the `executorch` recipe (XNNPACK, fp32) at the
same thread count, round by round:
  * benchlab's host device (a fresh worker process per repeat, every iteration timed),
  * a bare `Method.execute()` loop of executorch.runtime in this process, timed the same way,
each round's ratio of the medians, and the median of those ratios (the target: within 1.05x). The two
alternate in every round, so a change of the machine's load between them (this VM is shared) shifts both
sides of a pair alike rather than one side of one comparison.

Run: `.venv/bin/python benchmarks/host_pte.py [--threads 1] [--iterations 300] [--rounds 5] [--model tiny_bert]`
(`--smoke`: a tiny size that only checks it still runs; tests/test_benchmarks.py runs it so).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def pte_variant_path(factory: str) -> Path:
    """Build (or reuse from the cache) the `executorch` variant of an examples/torch_models.py factory."""
    from benchlab.optimize.build import build_variants
    from benchlab.optimize.recipes import RECIPES
    from benchlab.plan.suite import load_suite

    with tempfile.TemporaryDirectory() as folder:
        suite_path = Path(folder) / "suite.yaml"
        suite_path.write_text(yaml.safe_dump({
            "name": "host-pte", "variants": ["executorch"],
            "models": [{"name": factory, "module": f"examples.torch_models:{factory}", "module_root": str(REPO)}]}))
        (variant,) = build_variants(load_suite(suite_path, RECIPES), {factory: None})
    if variant.status == "failed":
        raise SystemExit(f"the executorch variant failed: {variant.error}")
    return Path(variant.path)


def host_device_median_ms(model: Path, threads: int, iterations: int, warmup: int) -> float:
    """Return the median of every timed iteration of one host-device job (one repeat)."""
    from benchlab.execute.host_device import HostDevice
    from benchlab.metrics.stats import summarize
    from benchlab.records import AcceleratorSetting, Job, Scenario, Variant

    variant = Variant(model="bench", name="executorch", recipe="executorch", format="pte", status="built",
                      path=str(model))
    job = Job(job_id="bench", run_id="bench", suite="bench", variant=variant, device_id="host",
              accelerator=AcceleratorSetting(name=f"cpu-t{threads}", kind="cpu", threads=threads),
              scenario=Scenario(warmup=warmup, iterations=iterations, repeats=1))
    measurement = HostDevice().run(job)
    if measurement.status != "ok":
        raise SystemExit(f"host device failed: {measurement.error}")
    return summarize(measurement.samples_us).median_ms


def bare_loop(model: Path, threads: int) -> Callable[[int, int], float]:
    """Load the program once in this process; return a function that runs `warmup` then `iterations` bare
    executorch.runtime executions on inputs of ones and returns the median of the timed ones in ms."""
    import torch
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    from benchlab.torch_io import executorch_io

    _unsafe_reset_threadpool(threads)
    method = Runtime.get().load_program(str(model)).load_method("forward")
    inputs = [torch.ones(t.shape, dtype=getattr(torch, t.dtype)) for t in executorch_io(method.metadata).inputs]

    def median_ms(iterations: int, warmup: int) -> float:
        for _ in range(warmup):
            method.execute(inputs)
        times = []
        for _ in range(iterations):
            started = time.perf_counter_ns()
            method.execute(inputs)
            times.append((time.perf_counter_ns() - started) / 1e6)
        return statistics.median(times)

    return median_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("small_cnn", "tiny_bert"), default="small_cnn")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5, help="host-device repeats, each paired with a bare loop")
    parser.add_argument("--smoke", action="store_true", help="a tiny size that only checks the benchmark still runs")
    args = parser.parse_args()
    if args.smoke:
        args.iterations, args.warmup, args.rounds = 20, 2, 1

    model = pte_variant_path(args.model)
    bare_median_ms = bare_loop(model, args.threads)
    print(f"{args.model} executorch ({model.stat().st_size / 1024:.0f} KB), {args.threads} thread(s), "
          f"{args.iterations} iterations after {args.warmup} warmup, {args.rounds} round(s)")
    print(f"{'round':>5s} {'host device ms':>15s} {'bare loop ms':>13s} {'ratio':>7s}")
    ratios = []
    for round_index in range(args.rounds):
        host = host_device_median_ms(model, args.threads, args.iterations, args.warmup)
        bare = bare_median_ms(args.iterations, args.warmup)
        ratios.append(host / bare)
        print(f"{round_index + 1:5d} {host:15.4f} {bare:13.4f} {host / bare:6.2f}x")
    ratio = statistics.median(ratios)
    print(f"median ratio {ratio:.3f}x (rounds {min(ratios):.2f}-{max(ratios):.2f}x); "
          f"host device within 1.05x of the bare loop: {ratio <= 1.05}")


if __name__ == "__main__":
    main()
