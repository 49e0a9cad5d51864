"""Orchestration cost of a device farm: one suite on 1 phone, one phone per host, and every phone.

`--phones 64 --workers 16`: 16 farm hosts on this machine, each a Linux network namespace with an
address of its own (android_runner/loopback/hosts.py: `ip netns`, a veth pair per host on one bridge,
made and removed here; traffic never leaves the machine). The Dask scheduler and the client run in
this machine's namespace; in each host's namespace run a `benchlab worker` and a process serving
its 4 loopback phones (real ADB wire protocol on that namespace's 127.0.0.1, so only its own
worker reaches them). The client runs the same suite against the first phone, then one phone per
host, then every phone, through `DaskExecutor`, as `benchlab run --cluster` does.

The phones **replay** a recorded real run (android_runner/loopback/replay.py): their benchmark_model
is a small sh script that sleeps as long as a MobileNet v1 quant run recorded on an arm64 phone
took (init 9.9 ms, warm-up 76.6 ms, 66.8 ms per timed run; shared/fixtures/benchmark_model/
old_v1x_mobilenetv1_quant_arm64_multi.txt) and prints its figures. No Python and no LiteRT start
per repeat, so a phone's own time costs this machine nothing (its ADB server and shells still run
here, which is why the CPU of each kind of process is reported; the conditions reads, which only
read its recordings, it answers without a shell: android_runner/loopback/services.py). A replay has no outputs, so the suite has no dataset (no evaluation runs). Reported
per run:

- wall: seconds `DaskExecutor.execute` took (ship, submit, run, stream every repeat into the store);
  wall / wall(1 phone): goal <= 1.5 at 64 phones on 16 hosts;
- phone: a phone's own time, the sleeps its stand-in did (the same for every phone);
- overhead: (wall - phone) / phone, what the harness adds around a phone's own time; and each
  phone's busy time (its records' start to finish) less its own time: the harness's work inside
  the repeats (conditions, shell commands, parsing), median and worst phone;
- the store: records written, lost and written twice (read back from the store and counted per
  phone, setting and repeat; a run fails unless each is there once), records per second of wall,
  and milliseconds per record in the client's sink (write, flush, fsync);
- the client: CPU seconds (all its threads) and peak RSS during the run; the CPU seconds the
  scheduler, the workers and the phones (with their shells) used, and the load average.

The client never imports TensorFlow (the model is written by a child process), so its memory is
what `benchlab run --cluster` needs. Workers rediscover phones only every hour here: on a real
farm an idle host's probing costs that host, here it would cost the cores the others measure on.
A first run on every phone (not counted) pushes the runner and model to each phone and ships the
files to each worker, as the first night of a farm does.

Run (as root; `--no-netns`: every host in this machine's namespace, phones on 127.0.0.1):
`.venv/bin/python benchmarks/farm.py --phones 64 --workers 16 [--repeats 3] [--iterations 20]
[--out farm.json]` (raw per-repeat intervals and sink times of every run go to the JSON file;
`--smoke`: 2 phones on 2 hosts without namespaces, a tiny size that only checks it still runs, as
tests/test_benchmarks.py does).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from itertools import product
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's benchlab and android_runner (its loopback phone)

from benchlab.execute.farm import DaskExecutor, cluster_session  # noqa: E402
from benchlab.optimize.recipes import RECIPES  # noqa: E402
from benchlab.pipeline import Callbacks, RunInterrupted, run_suite  # noqa: E402
from benchlab.plan.suite import load_suite  # noqa: E402
from benchlab.results.layout import RunLayout  # noqa: E402
from benchlab.results.store import read_repeat_records  # noqa: E402
from android_runner.loopback import FLAGSHIP  # noqa: E402
from android_runner.loopback.farm import LoopbackFarm  # noqa: E402
from android_runner.loopback.hosts import HostsError, NamespaceHosts, SharedHosts, die_with_parent, namespace_problem  # noqa: E402
from android_runner.loopback.replay import ReplayPersonality, replaying  # noqa: E402

#: The recorded real-device outputs live beside the clone, in shared/fixtures (as for the tests).
RECORDED = REPO.parent / "shared" / "fixtures" / "benchmark_model" / "old_v1x_mobilenetv1_quant_arm64_multi.txt"
ACCELERATORS = [{"kind": "cpu", "threads": 1}, {"kind": "cpu", "threads": 2}]
WARMUP = 1
#: Idle workers look for new phones this rarely (see the module docstring).
REDISCOVER_SECONDS = 3600.0
#: Bound on the farm's start: each host's worker and phones import benchlab on the same 2 cores.
STARTUP_SECONDS_PER_HOST = 60.0


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


def model_in_child(path: Path) -> Path:
    """Write `small_model` from a child process, so this (the client) process never loads TensorFlow."""
    done = subprocess.run([sys.executable, __file__, "--write-model", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"writing the model failed: {done.stderr[-2000:]}")
    return path


@contextmanager
def served_phones(hosts: SharedHosts | NamespaceHosts, root: Path,
                  count: dict[str, int]) -> Iterator[tuple[dict[str, list[str]], dict[str, int]]]:
    """Serve each host's replaying phones from a process on that host; yield each host's serials
    and the pid of each host's phone process.

    The processes start together (their imports overlap) and stop when this exits.
    """
    processes: dict[str, subprocess.Popen] = {}
    try:
        for host, phones in count.items():
            argv = [sys.executable, "-m", "android_runner.loopback.serve_phones", str(root / host),
                    "--ports", ",".join(map(str, hosts.phone_ports(host, phones))),
                    *[f"{FLAGSHIP.name}@{RECORDED}"] * phones]
            processes[host] = subprocess.Popen(hosts.command(host, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                               cwd=REPO, text=True, preexec_fn=die_with_parent)
        serials = {}
        for host, process in processes.items():
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"the phones of {host} did not start (exit {process.wait()})")
            serials[host] = json.loads(line)
        yield serials, {host: process.pid for host, process in processes.items()}
    finally:
        for process in processes.values():
            process.stdin.close()  # it stops its phones and exits
        for process in processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class TimedExecutor:
    """DaskExecutor, with the wall time of its execute() and the time of each sink call kept."""

    def __init__(self, inner: DaskExecutor) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.sink_seconds: list[float] = []

    def execute(self, repeats, devices, sink, stop=None) -> None:  # type: ignore[no-untyped-def]
        def timed(measurement):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            stored = sink(measurement)
            self.sink_seconds.append(time.perf_counter() - started)
            return stored

        started = time.perf_counter()
        self.inner.execute(repeats, devices, timed, stop)
        self.seconds = time.perf_counter() - started

    def sustain(self, jobs, devices, sink, stop, latencies_us, say) -> None:  # type: ignore[no-untyped-def]
        self.inner.sustain(jobs, devices, sink, stop, latencies_us, say)


def suite_file(root: Path, model: Path, serials: list[str], repeats: int, iterations: int) -> Path:
    import yaml

    path = root / f"farm-{len(serials)}.yaml"
    path.write_text(yaml.safe_dump({
        "name": f"farm-{len(serials)}-phones",
        "models": [{"name": "small", "path": str(model)}],
        "variants": ["tflite"],
        "targets": [f"android:{s}" for s in serials],
        "accelerators": ACCELERATORS,
        "scenario": {"warmup": WARMUP, "iterations": iterations, "min_seconds": 0, "repeats": repeats},
    }))
    return path


def reset_peak_rss() -> None:
    """Make the kernel's peak RSS of this process start again from its RSS now (Linux 4.0+)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """Return this process's peak RSS since the last `reset_peak_rss`, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check_records(run_dir: Path, serials: Sequence[str], repeats: int) -> dict[str, int]:
    """Read the run back from the store; return how many records were expected, written, lost and
    written twice (keyed by phone, accelerator and repeat: the suite has one variant). Raises RuntimeError unless
    every expected repeat is there once and measured, and nothing else is."""
    records = read_repeat_records(run_dir)
    lines = len(RunLayout(run_dir).measurements_jsonl.read_text().splitlines())
    counts = Counter((r.device.id, r.accelerator.threads, r.repeat) for r in records)
    expected = set(product(serials, [a["threads"] for a in ACCELERATORS], range(repeats)))
    check = {"expected": len(expected), "written": len(records), "lost": len(expected - set(counts)),
             "twice": sum(n - 1 for n in counts.values()), "unexpected": len(set(counts) - expected)}
    failed = [(r.device.id, r.job_id, r.repeat, r.error) for r in records if r.status != "ok"]
    if lines != len(records) or failed or check["lost"] or check["twice"] or check["unexpected"]:
        raise RuntimeError(f"{run_dir}: {check}, {lines} lines, not measured: {failed[:5]}")
    return check


def cpu_seconds(pid: int) -> float:
    """Return the CPU seconds process `pid` and its waited-for children used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def cpu_by_role(pids: dict[str, int]) -> dict[str, float]:
    """Return the CPU seconds used so far per role: scheduler, workers, phones (each a sum)."""
    roles: dict[str, float] = {}
    for name, pid in pids.items():
        role = name if name == "scheduler" else name.split(":")[0]
        roles[role] = roles.get(role, 0.0) + cpu_seconds(pid)
    return roles


def run_once(farm: LoopbackFarm, suite_path: Path, results: Path, serials: list[str], repeats: int,
             pids: dict[str, int]) -> dict:
    """Run one suite on the farm; return wall, per-phone busy seconds, the client's cost, the CPU
    of the farm's other processes (`pids` by role: "scheduler", "workers:NAME", "phones:HOST") and
    the store check."""
    with cluster_session(farm.address) as (devices, executor):
        timed = TimedExecutor(executor)
        reset_peak_rss()
        before, cpu, load = cpu_by_role(pids), time.process_time(), os.getloadavg()[0]
        outcome = run_suite(load_suite(suite_path, RECIPES), suite_path, results, Callbacks(say=lambda _m: None),
                            devices=devices, executor=timed)
        cpu = time.process_time() - cpu
        farm_cpu = {role: seconds - before[role] for role, seconds in cpu_by_role(pids).items()}
        rss = peak_rss_mb()
    check = check_records(outcome.run_dir, serials, repeats)
    intervals: dict[str, list[tuple[str, str]]] = {}
    for r in read_repeat_records(outcome.run_dir):
        intervals.setdefault(r.device.id, []).append((r.started_at, r.finished_at))
    busy = {device: sum((datetime.fromisoformat(f) - datetime.fromisoformat(s)).total_seconds() for s, f in spans)
            for device, spans in intervals.items()}
    return {"phones": len(busy), "wall_s": timed.seconds, "busy_s": busy, "intervals": intervals,
            "sink_s": timed.sink_seconds, "client_cpu_s": cpu, "client_peak_rss_mb": rss, "store": check,
            "farm_cpu_s": farm_cpu, "load_before": load, "load_after": os.getloadavg()[0],
            "run_dir": str(outcome.run_dir)}


def spread(serials: dict[str, list[str]]) -> list[str]:
    """Every phone, ordered so that the first len(serials) are one per host: host 1's first, host 2's first, ..."""
    longest = max(len(s) for s in serials.values())
    return [owned[k] for k in range(longest) for owned in serials.values() if k < len(owned)]


def print_tables(runs: list[dict], phone: ReplayPersonality, phone_s: float, hosts: int, netns: bool,
                 repeats: int, iterations: int) -> None:
    print(f"replayed: {phone.recorded_from}, {phone.replay_inference_us / 1000:.1f} ms per inference; "
          f"{len(ACCELERATORS)} jobs x {repeats} repeats per phone, {WARMUP} warm-up + {iterations} runs each "
          f"= {phone_s:.2f} s of a phone's own time; {hosts} hosts "
          f"({'network namespaces' if netns else 'one namespace, --no-netns'})")
    print(f"{'phones':>6} {'wall s':>7} {'wall/wall(1)':>12} {'overhead':>9} {'in repeats median s':>20} "
          f"{'worst s':>8} {'records':>8} {'lost':>5} {'twice':>6} {'records/s':>10} {'sink ms mean':>13} "
          f"{'max':>6} {'client CPU s':>13} {'peak RSS MB':>12}")
    for run in runs:
        inside = sorted(b - phone_s for b in run["busy_s"].values())
        sink_ms = [1000 * s for s in run["sink_s"]]
        print(f"{run['phones']:>6} {run['wall_s']:>7.2f} {run['wall_s'] / runs[0]['wall_s']:>12.2f} "
              f"{100 * (run['wall_s'] - phone_s) / phone_s:>8.1f}% {statistics.median(inside):>20.2f} {inside[-1]:>8.2f} "
              f"{run['store']['written']:>8} {run['store']['lost']:>5} {run['store']['twice']:>6} "
              f"{run['store']['written'] / run['wall_s']:>10.1f} {statistics.fmean(sink_ms):>13.2f} {max(sink_ms):>6.2f} "
              f"{run['client_cpu_s']:>13.2f} {run['client_peak_rss_mb']:>12.0f}")
    print("CPU seconds during each run (this machine's 2 cores; load average before -> after):")
    for run in runs:
        farm_cpu = run["farm_cpu_s"]
        print(f"{run['phones']:>6} phones: client {run['client_cpu_s']:.1f}, scheduler {farm_cpu['scheduler']:.1f}, "
              f"{hosts} workers {farm_cpu['workers']:.1f}, phones (with their shells) {farm_cpu['phones']:.1f}; "
              f"load {run['load_before']:.1f} -> {run['load_after']:.1f}")


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so every `finally` runs and the hosts are removed."""
    def leave(number: int, _frame: object) -> None:
        raise SystemExit(128 + number)

    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, leave)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=4, help="phones in all (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="farm hosts, one worker each; phones spread evenly")
    parser.add_argument("--no-netns", action="store_true",
                        help="run every host in this machine's network namespace (no root needed)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="write every run's raw intervals here (JSON)")
    parser.add_argument("--smoke", action="store_true", help="a tiny size that only checks the benchmark still runs")
    parser.add_argument("--write-model", type=Path, help=argparse.SUPPRESS)  # model_in_child's child
    args = parser.parse_args()
    if args.write_model:
        small_model(args.write_model)
        return
    if args.smoke:  # the same code path on any machine: no namespaces, so no root needed
        args.phones, args.workers, args.no_netns, args.repeats, args.iterations = 2, 2, True, 1, 2
    if not 1 <= args.workers <= args.phones:
        parser.error(f"--workers must be between 1 and --phones ({args.phones})")
    problem = None if args.no_netns else namespace_problem()
    if problem is not None:
        print(f"farm.py: {problem}; run as root or pass --no-netns", file=sys.stderr)
        sys.exit(2)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    stop_on_signals()
    names = [f"host{i + 1:02d}" for i in range(args.workers)]
    count = {name: args.phones // args.workers + (i < args.phones % args.workers) for i, name in enumerate(names)}
    phone = replaying(FLAGSHIP, RECORDED)
    phone_s = len(ACCELERATORS) * args.repeats * phone.repeat_seconds(WARMUP, args.iterations)
    with tempfile.TemporaryDirectory(prefix="benchlab-farm-") as tmp, ExitStack() as stack:
        atexit.register(stack.close)  # also on an exit that skips the with's end
        root = Path(tmp)
        os.environ["BENCHLAB_CACHE_DIR"] = str(root / "client-cache")
        model = model_in_child(root / "small.tflite")
        began = time.monotonic()
        say = lambda message: print(f"[{time.monotonic() - began:5.0f} s] {message}", file=sys.stderr, flush=True)  # noqa: E731
        say(f"making {args.workers} hosts{'' if args.no_netns else ' (network namespaces)'} and {args.phones} phones")
        try:
            hosts = stack.enter_context(SharedHosts(names) if args.no_netns else NamespaceHosts(names))
        except HostsError as exc:
            print(f"farm.py: {exc}; pass --no-netns to run without namespaces", file=sys.stderr)
            sys.exit(2)
        serials, phone_pids = stack.enter_context(served_phones(hosts, root / "phones", count))
        farm = stack.enter_context(LoopbackFarm(root, {}, served=serials, hosts=hosts,
                                                rediscover_seconds=REDISCOVER_SECONDS,
                                                startup_seconds=STARTUP_SECONDS_PER_HOST * len(names)))
        pids = {**{f"workers:{name}" if name != "scheduler" else name: pid for name, pid in farm.process_ids().items()},
                **{f"phones:{host}": pid for host, pid in phone_pids.items()}}
        ordered = spread(serials)
        say(f"first run on all {len(ordered)} phones (pushes the runner and model, not counted)")
        run_once(farm, suite_file(root, model, ordered, 1, args.iterations), root / "warmup", ordered, 1, pids)
        runs = []
        for n in sorted({1, args.workers, args.phones}):
            say(f"{n} phone(s)")
            runs.append(run_once(farm, suite_file(root, model, ordered[:n], args.repeats, args.iterations),
                                 root / f"results-{n}", ordered[:n], args.repeats, pids))
    print_tables(runs, phone, phone_s, args.workers, not args.no_netns, args.repeats, args.iterations)
    if args.out:
        args.out.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, RunInterrupted):  # the hosts and processes are gone by now (finally blocks)
        print("farm.py: interrupted; its hosts and processes are removed", file=sys.stderr)
        sys.exit(130)
