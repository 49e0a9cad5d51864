"""A year of nights, generated: a results root shaped like a farm's nightly history.

Writes NIGHTS runs of one suite, each with ROWS measurements (20 variants of two models × 3
accelerators × 20 phones = 1,200 rows), through benchlab's own store: `RunStore.create` writes
run.json, `RunStore.append_many` one record per repeat in the store's own JSON lines, and
`RunStore.finish` exports the run's Parquet tables, so the layout is exactly a real run's.

The noise is shaped like measured runs (tests/test_compare.py's `repeats`, the figures this
project measured): each phone's night has its own level (log-normal, 5% sd, shared by every row
of the phone that night: a warm phone, another co-tenant), each repeat its own centre around it
(5% between repeats), each iteration 1% around its repeat with rare 1.5-3x hiccups. On top:

- real steps: a few variants get slower (or faster) on every phone from one night on, the code's
  change that `history --changes` should find (STEPS);
- OS updates: each phone moves to a new OS build on its own night, some with a latency step of
  their own (OS_UPDATES), and every phone gets a new runner version one night (RUNNER_UPDATE);
- a repeat in about 500 fails (a device lost mid-repeat), so gaps and failed repeats are there.

Run: `.venv/bin/python benchmarks/make_history.py OUT [--nights 365] [--phones 20] [--workers 2]`
(`--smoke`: 4 nights of 1 phone, into a temporary folder). It prints where it wrote and how long it took; an existing OUT
must be empty (a history is never appended to silently).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchlab.records import AcceleratorSetting, DeviceInfo, Measurement, Variant  # noqa: E402
from benchlab.results.run_meta import RunMeta, StoredSuite  # noqa: E402
from benchlab.results.store import RunStore  # noqa: E402

SUITE = "farm-nightly"
#: Two models, ten variants each: 20 variants (name, latency relative to the model's fp32).
MODELS = {"mobilenet_v2": 6000.0, "efficientnet_lite0": 11000.0}
VARIANTS = {"fp32": 1.0, "fp16": 0.97, "dynamic-int8": 0.72, "full-int8": 0.55, "int16x8": 0.9,
            "int4-weights": 0.8, "pruned-50": 0.85, "clustered-16": 0.98, "qat-int8": 0.56, "mixed": 0.7}
#: Accelerator name, kind, threads, latency factor.
ACCELERATORS = (("cpu-t1", "cpu", 1, 1.0), ("cpu-t4", "cpu", 4, 0.38), ("gpu", "gpu", None, 0.25))
#: (variant, night from which it is slower on every phone, factor): the code's real steps.
STEPS = (("full-int8", 0.25, 1.2), ("fp16", 0.5, 0.85), ("dynamic-int8", 0.75, 1.3))
#: Run-to-run spread of a phone's night, between repeats, between iterations (log-normal sigmas).
NIGHT_SPREAD, REPEAT_SPREAD, ITERATION_SPREAD = 0.05, 0.05, 0.01
#: A new benchmark_model for every phone from this share of the year on.
RUNNER_UPDATE = 0.6
#: Chance that a repeat fails (the phone dropped off USB mid-repeat).
FAILED_REPEAT = 0.002


@dataclass(frozen=True)
class Shape:
    """The size of a generated history."""

    nights: int
    phones: int
    repeats: int
    iterations: int
    seed: int

    @property
    def rows(self) -> int:
        """Measurements per night: variants × accelerators × phones."""
        return len(MODELS) * len(VARIANTS) * len(ACCELERATORS) * self.phones


def phone_setup(phone: int, night: int, shape: Shape) -> tuple[str, str, float]:
    """Return a phone's OS build, runner version and its setup's latency factor on a night.

    Phone p gets Android 15 on its own night (spread over the middle of the year); every other
    phone's update makes it 8% slower, and the runner update 3% faster."""
    update_night = int(shape.nights * (0.3 + 0.4 * phone / max(shape.phones, 1)))
    updated = night >= update_night
    new_runner = night >= int(shape.nights * RUNNER_UPDATE)
    factor = (1.08 if updated and phone % 2 else 1.0) * (0.97 if new_runner else 1.0)
    return ("15/AP3A" if updated else "14/UQ1A"), ("2.17.0" if new_runner else "2.16.1"), factor


def night_measurements(night: int, shape: Shape) -> list[Measurement]:
    """Return one night's repeat records, in the interleaved order a device's schedule runs them."""
    rng = np.random.default_rng([shape.seed, night])
    run_id = run_name(night)
    started = night_start(night)
    records = []
    for phone in range(shape.phones):
        os_version, runner_version, setup_factor = phone_setup(phone, night, shape)
        device = DeviceInfo(id=f"phone{phone:02d}", platform="android", maker="Google", model="Pixel 7",
                            soc="gs201", os_version=os_version, abi="arm64-v8a", tier="flagship")
        phone_level = setup_factor * float(rng.lognormal(0.0, NIGHT_SPREAD))
        clock = started
        for repeat in range(shape.repeats):
            slot = 0
            for model, model_us in MODELS.items():
                for variant, variant_factor in VARIANTS.items():
                    code = np.prod([f for name, at, f in STEPS if name == variant and night >= int(at * shape.nights)])
                    built = Variant(model=model, name=variant, recipe=variant, format="tflite", status="built",
                                    sha256=hashlib.sha256(f"{model}/{variant}".encode()).hexdigest(),
                                    size_bytes=int(4_000_000 * variant_factor), is_reference=variant == "fp32")
                    for accelerator, kind, threads, accel_factor in ACCELERATORS:
                        centre = (model_us * variant_factor * accel_factor * float(code) * phone_level
                                  * float(rng.lognormal(0.0, REPEAT_SPREAD)))
                        samples = centre * rng.lognormal(0.0, ITERATION_SPREAD, shape.iterations)
                        hiccups = rng.random(shape.iterations) < 0.01
                        samples[hiccups] *= rng.uniform(1.5, 3.0, int(hiccups.sum()))
                        failed = rng.random() < FAILED_REPEAT
                        seconds = float(samples.sum()) / 1e6 + 1.5  # the runner's start and the conditions
                        records.append(Measurement(
                            job_id=f"{model}.{variant}.{device.id}.{accelerator}", run_id=run_id, suite=SUITE,
                            variant=built, device=device,
                            accelerator=AcceleratorSetting(name=accelerator, kind=kind, threads=threads),
                            status="failed" if failed else "ok", runner="benchmark_model",
                            runner_version=runner_version,
                            error="device offline (adb: device 'phone' not found)" if failed else None,
                            failure_cause="device" if failed else None, repeat=repeat, slot=slot,
                            samples_us=() if failed else (tuple(float(v) for v in samples),),
                            peak_memory_mb=None if failed else 40.0 + 10.0 * variant_factor,
                            started_at=clock.isoformat(), finished_at=(clock + timedelta(seconds=seconds)).isoformat()))
                        clock += timedelta(seconds=seconds)
                        slot += 1
    return records


def run_name(night: int) -> str:
    """Return the run id of a night (sorts in night order)."""
    return f"{night_start(night):%Y%m%d-%H%M%S}-{SUITE}"


def night_start(night: int) -> datetime:
    """Return when a night's run started: 02:00 UTC, one night after another from 2025-12-01."""
    return datetime(2025, 12, 1, 2, 0, tzinfo=timezone.utc) + timedelta(days=night)


def write_night(root: Path, night: int, shape: Shape) -> int:
    """Write one night's run through the store; return how many repeat records it holds."""
    records = night_measurements(night, shape)
    store = RunStore(root / run_name(night))
    store.create(RunMeta(suite_name=SUITE, suite=StoredSuite.from_json({"name": SUITE, "dataset": {"builtin": "mnist"}}),
                         harness_version="0.1.0", started_at=night_start(night).isoformat()))
    store.append_many(records)
    store.finish(max(r.finished_at for r in records if r.finished_at))
    return len(records)


def write_history(root: Path, shape: Shape, workers: int = 1, say=print) -> int:  # type: ignore[no-untyped-def]
    """Write every night of `shape` under `root` (which must not hold runs); return the records written."""
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root} is not empty: a generated history goes into a new folder")
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, count in enumerate(pool.map(write_night, [root] * shape.nights, range(shape.nights),
                                              [shape] * shape.nights), start=1):
            written += count
            if done % 10 == 0 or done == shape.nights:
                say(f"  {done}/{shape.nights} nights, {written} repeat records, {time.perf_counter() - started:.0f} s")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=None,
                        help="a new results root (with --smoke: a temporary folder when not given)")
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--phones", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2, help="processes writing nights (default 2)")
    parser.add_argument("--smoke", action="store_true", help="4 nights of 1 phone")
    args = parser.parse_args()
    if args.smoke:
        args.nights, args.phones, args.workers = 4, 1, 1
    elif args.out is None:
        parser.error("give the results root to write (OUT)")
    shape = Shape(args.nights, args.phones, args.repeats, args.iterations, args.seed)
    with tempfile.TemporaryDirectory(prefix="benchlab-history-") as tmp:
        out = args.out or Path(tmp) / "results"
        print(f"writing {shape.nights} nights x {shape.rows} rows x {shape.repeats} repeats to {out}")
        started = time.perf_counter()
        written = write_history(out, shape, args.workers)
        print(f"wrote {written} repeat records in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
