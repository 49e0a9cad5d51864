"""On-device evaluation cost: one benchmark_model process per sample (before) vs batches (now).

Runs android_runner's real evaluation (push inputs, run benchmark_model with
--input_layer_value_files / --output_filepath, pull outputs) against the loopback flagship phone
from the tests, whose stand-in benchmark_model loads the model with real LiteRT in a fresh Python
process: its start-up stands in for a delegate's init, the cost batching amortises. Prints
evaluation seconds per sample and the number of runner launches the phone saw, before and after.
"Before" is the same code with the batch size forced to 1 (one process per sample, as benchlab
evaluated until now), measured on fewer samples since it is slow.

Run: `.venv/bin/python benchmarks/android_eval.py [--samples 256] [--before-samples 32]` (`--smoke`:
a tiny size that only checks it still runs; tests/test_benchmarks.py runs it so).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's benchlab and android_runner (its loopback phone)

from android_runner.loopback import FLAGSHIP, LoopbackAdbDevice  # noqa: E402

GOAL_SAMPLES_PER_LAUNCH = 32


def small_cnn(path: Path) -> Path:
    """Write a real small CNN .tflite on 28x28x1 inputs (batch dimension resizable)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((28, 28, 1))
    x = tf.keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf.keras.layers.Flatten()(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(10, activation="softmax")(x))
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def evaluate(phone: LoopbackAdbDevice, model: Path, samples: np.ndarray, tmp: Path,
             batch: int) -> tuple[float, int, dict[str, np.ndarray]]:
    """Return (seconds, runner launches, outputs) of one evaluation of `samples` with `batch`."""
    import android_runner.device as android_device
    from android_runner.transport import DirectTransport
    from benchlab.records import AcceleratorSetting, Job, Measurement, Scenario, Variant

    android_device.EVAL_BATCH = batch
    eval_path = tmp / f"eval-{len(samples)}.npy"
    np.save(eval_path, samples)
    device = android_device.AndroidDevice(DirectTransport(phone.serial), "tcp")
    device.prepare([model])
    variant = Variant(model="cnn", name="fp32", recipe="tflite", format="tflite", status="ok", path=str(model))
    cpu = AcceleratorSetting(name="cpu-t1", kind="cpu", threads=1)
    job = Job(job_id=f"cnn.fp32.b{batch}", run_id="bench", suite="bench", variant=variant, device_id=phone.serial,
              accelerator=cpu, scenario=Scenario(timeout_seconds=600), eval_inputs_path=str(eval_path))
    base = Measurement(job_id=job.job_id, run_id="bench", suite="bench", variant=variant, device=device.info,
                       accelerator=cpu, status="ok", runner="benchmark_model")
    # The model's copy on the phone is named by its bytes, as prepare() pushed it.
    binary, remote_model = device._remote("benchmark_model"), device._model_remote(model)
    device._output_file_supported(binary)  # the --help probe is not part of the evaluation
    before = len(phone.commands)
    started = time.perf_counter()
    measured = device._evaluate(job, base, binary, remote_model)
    seconds = time.perf_counter() - started
    launches = sum(c.count("--output_filepath") for c in phone.commands[before:])
    device.transport.close()
    if measured.outputs is None:
        raise SystemExit(f"evaluation failed: {measured.accuracy_note}")
    return seconds, launches, measured.outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--before-samples", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="a tiny size that only checks the benchmark still runs")
    args = parser.parse_args()
    if args.smoke:
        args.samples, args.before_samples = 4 * GOAL_SAMPLES_PER_LAUNCH, 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import android_runner.device as android_device

    batch = android_device.EVAL_BATCH
    with tempfile.TemporaryDirectory(prefix="benchlab-eval-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["BENCHLAB_CONFIG_DIR"] = str(tmp / "config")
        os.environ["BENCHLAB_ADB_KEY"] = str(tmp / "no-sdk-key")
        runner = tmp / "benchmark_model"
        runner.write_bytes(b"\x7fELF placeholder: the loopback phone runs its benchmark_model stand-in\n")
        os.environ["BENCHLAB_ANDROID_BENCHMARK_MODEL"] = str(runner)
        model = small_cnn(tmp / "cnn.tflite")
        model_kb = model.stat().st_size / 1e3
        samples = np.random.default_rng(0).uniform(0, 1, size=(args.samples, 28, 28, 1)).astype(np.float32)
        with LoopbackAdbDevice(FLAGSHIP, tmp / "phone", accept_new_keys=True) as phone:
            old_s, old_launches, old_out = evaluate(phone, model, samples[: args.before_samples], tmp, 1)
            new_s, new_launches, new_out = evaluate(phone, model, samples, tmp, batch)
    same = all(np.allclose(old_out[name], new_out[name][: args.before_samples], rtol=1e-5, atol=1e-6)
               for name in old_out)  # outputs by name, one array per model output
    print(f"evaluation on the loopback flagship phone (CPU, 1 thread), {model_kb:.0f} kB CNN")
    print(f"{'':26s} {'samples':>8s} {'seconds':>8s} {'s/sample':>9s} {'launches':>9s}")
    print(f"{'before: 1 per process':26s} {args.before_samples:8d} {old_s:8.2f} {old_s / args.before_samples:9.3f} "
          f"{old_launches:9d}")
    print(f"{f'now: batches of {batch}':26s} {args.samples:8d} {new_s:8.2f} {new_s / args.samples:9.3f} "
          f"{new_launches:9d}")
    print(f"speed-up per sample: {(old_s / args.before_samples) / (new_s / args.samples):.1f}x; "
          f"outputs on the shared samples identical: {same}")
    goal = args.samples / GOAL_SAMPLES_PER_LAUNCH
    print(f"goal launches <= samples / {GOAL_SAMPLES_PER_LAUNCH} = {goal:g}: "
          f"{'met' if new_launches <= goal else 'NOT met'} ({new_launches})")


if __name__ == "__main__":
    main()
