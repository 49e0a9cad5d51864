"""Push throughput to a phone: benchlab's direct transport vs adb-shell's own push vs stock `adb`.

Then the round trip of one short shell command over TCP: adb-shell's own AdbDeviceTcp (Nagle's
algorithm on, so each message's payload waits for the delayed ACK of its header) against benchlab's
direct transport (TCP_NODELAY), on the same phone.

Runs against the loopback Android device from the tests (real ADB wire protocol on 127.0.0.1), so
the figures compare the clients' protocol handling, not a USB cable. Prints MB/s for a ~25 MB
.tflite model pushed with each client, side by side: adb-shell 0.4.4's push() (what benchlab used
before), benchlab's own sync push on the same adb-shell connection (what it uses now) and the
stock client; then the time of benchlab's prepare() when the phone already holds the same bytes
(it hashes on the phone and pushes nothing).

The phone runs in its own process, so it does not share an interpreter lock with the client.

Run: `.venv/bin/python benchmarks/android_push.py [--repeats 5]` (needs Debian's `adb` for the
stock client's column; `--smoke`: a 260 KB model once, which only checks it still runs, as
tests/test_benchmarks.py does).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's benchlab and android_runner (its loopback phone)

from android_runner.loopback import FLAGSHIP, LoopbackAdbDevice  # noqa: E402
from android_runner.loopback.ports import free_port  # noqa: E402

REMOTE = "/data/local/tmp/benchlab/model.tflite"


def big_model(path: Path, units: int = 2560) -> Path:
    """Write a real float32 .tflite of one units x units dense layer (~25 MB at 2560)."""
    import tensorflow as tf

    dense = tf.keras.layers.Dense(units)
    model = tf.keras.Sequential([tf.keras.Input((units,)), dense])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    path.write_bytes(converter.convert())
    return path


def timed(action, repeats: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Return the wall seconds and the client's CPU seconds of each run of `action`.

    CPU is this process's (every thread) plus its finished children's (the stock `adb` client);
    an adb server's own CPU is not counted. Under load, a client that needs more CPU per byte
    gets its share of the cores later, so the CPU column says which path a busy machine slows.
    """
    times, cpu = [], []
    for _ in range(repeats):
        started, used = time.perf_counter(), sum(os.times()[:4])
        action()
        times.append(time.perf_counter() - started)
        cpu.append(sum(os.times()[:4]) - used)
    return times, cpu


def serve_phone(root: str, serials: "multiprocessing.Queue[str]", stop: "multiprocessing.synchronize.Event") -> None:
    """Run the loopback phone until `stop` is set (in its own process, see phone_process)."""
    with LoopbackAdbDevice(FLAGSHIP, root, accept_new_keys=True) as phone:
        serials.put(phone.serial)
        stop.wait()


@contextlib.contextmanager
def phone_process(root: Path) -> Iterator[str]:
    """Start the loopback phone in a separate process and yield its serial.

    A phone in this process would share the interpreter lock with the client being measured,
    while the stock client runs in its own process: the phone runs apart, as a real one does.
    """
    context = multiprocessing.get_context("spawn")
    serials, stop = context.Queue(), context.Event()
    process = context.Process(target=serve_phone, args=(str(root), serials, stop), daemon=True)
    process.start()
    try:
        yield serials.get(timeout=60)
    finally:
        stop.set()
        process.join(timeout=10)


def stock_adb_shell_tcp(serial: str):  # type: ignore[no-untyped-def]
    """adb-shell's own TCP device, connected with benchlab's key: the client benchlab used before."""
    from adb_shell.adb_device import AdbDeviceTcp

    from android_runner.keys import signer

    host, _sep, port = serial.rpartition(":")
    device = AdbDeviceTcp(host, int(port), default_transport_timeout_s=10)
    device.connect(rsa_keys=[signer()], auth_timeout_s=10)
    return device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a tiny size that only checks the benchmark still runs")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory(prefix="benchlab-push-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["BENCHLAB_CONFIG_DIR"] = str(tmp / "config")
        os.environ["BENCHLAB_ADB_KEY"] = str(tmp / "no-sdk-key")
        model = big_model(tmp / "model.tflite", 256 if args.smoke else 2560)
        args.repeats = 1 if args.smoke else args.repeats
        size_mb = model.stat().st_size / 1e6
        rows: list[tuple[str, tuple[list[float], list[float]]]] = []
        with phone_process(tmp / "phone") as serial:
            from android_runner.device import AndroidDevice
            from android_runner.transport import DirectTransport

            transport = DirectTransport(serial)
            transport.shell("mkdir -p /data/local/tmp/benchlab", timeout_s=10)
            stock_tcp = stock_adb_shell_tcp(serial)
            rows.append(("before: adb-shell push()", timed(
                lambda: stock_tcp.push(str(model), REMOTE, read_timeout_s=120, transport_timeout_s=120),
                args.repeats)))
            rows.append(("now: benchlab sync push",
                         timed(lambda: transport.push(model, REMOTE, timeout_s=120), args.repeats)))
            adb = shutil.which("adb")
            if adb:
                port = str(free_port())
                (tmp / "home").mkdir()
                env = {**os.environ, "HOME": str(tmp / "home"), "ANDROID_ADB_SERVER_PORT": port}
                subprocess.run([adb, "start-server"], env=env, check=True, capture_output=True)
                try:
                    subprocess.run([adb, "connect", serial], env=env, capture_output=True, timeout=30)
                    time.sleep(1.0)
                    rows.append(("stock adb client (adb push)", timed(
                        lambda: subprocess.run([adb, "-s", serial, "push", str(model), REMOTE], env=env,
                                               check=True, capture_output=True), args.repeats)))
                    os.environ["ANDROID_ADB_SERVER_PORT"] = port
                    from android_runner.transport import ServerTransport

                    served = ServerTransport(serial)
                    rows.append(("now: benchlab via the adb server",
                                 timed(lambda: served.push(model, REMOTE, timeout_s=120), args.repeats)))
                finally:
                    subprocess.run([adb, "kill-server"], env=env, capture_output=True)
            shell_runs = 3 if args.smoke else 50
            round_trips = [("adb-shell AdbDeviceTcp (Nagle on)",
                            timed(lambda: stock_tcp.shell("echo hi", transport_timeout_s=10), shell_runs)[0]),
                           ("benchlab direct transport (TCP_NODELAY)",
                            timed(lambda: transport.shell("echo hi", timeout_s=10), shell_runs)[0])]
            stock_tcp.close()
            device = AndroidDevice(transport, "tcp")
            os.environ["BENCHLAB_ANDROID_BENCHMARK_MODEL"] = str(model)  # any file: prepare() pushes it too
            device.prepare([model])  # first: may push
            fresh = AndroidDevice(transport, "tcp")  # a new run: knows nothing, must ask the phone
            rerun, _cpu = timed(lambda: fresh.prepare([model]), 1)
            transport.close()
    print(f"push of a {size_mb:.1f} MB .tflite to the loopback phone, {args.repeats} runs each (median, min-max)")
    print(f"{'client':32s} {'seconds':>8s} {'MB/s':>8s} {'range s':>14s} {'vs stock':>9s} {'client CPU s':>13s}")
    stock = next((statistics.median(times) for name, (times, _cpu) in rows if name.startswith("stock")), None)
    for name, (times, cpu) in rows:
        median = statistics.median(times)
        ratio = f"{stock / median:8.2f}x" if stock else ""
        print(f"{name:32s} {median:8.2f} {size_mb / median:8.1f} {min(times):6.2f}-{max(times):.2f} {ratio:>9s} "
              f"{statistics.median(cpu):13.2f}")
    print("(vs stock: throughput as a fraction of the stock client's; the goal for benchlab's push is >= 0.8x)")
    print(f"re-run prepare() with the same bytes on the phone (sha256 on device, no push): {rerun[0]:.2f} s")
    print(f"shell round trip of `echo hi` over TCP, {shell_runs} runs each (median, min-max)")
    for name, times in round_trips:
        print(f"{name:40s} {statistics.median(times) * 1e3:7.1f} ms {min(times) * 1e3:6.1f}-{max(times) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
