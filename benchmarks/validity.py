"""Can the verdicts be trusted? False alarms and detection on REAL host runs, old method vs new.

Builds two real models (a small CNN and the same CNN with one more convolution, 10-20% slower),
then runs one suite `--runs` times back to back on this machine's CPU with benchlab's real
pipeline: three models (base, base-copy: the same file under another name, slower) at 1 and 2
threads, `--repeats` interleaved repeats each. From the stored runs it prints, side by side:

* old method: Hodges-Lehmann + Mann-Whitney over every iteration (as benchlab compared before
  repeats were the unit), 5% threshold;
* new method: the same tests over per-repeat medians, beyond max(5%, the row's noise floor
  from the runs before), and within a run the paired signed-rank test by interleaved round.

Figures:
* A/A across runs: consecutive runs, every unchanged row (base, base-copy, slower): share of
  verdicts that said "regression" or "improved" (goal <= 5%).
* A/A within a run: base vs base-copy in each run (goal <= 5%).
* Detection within a run: slower vs base in each run (goal >= 90% at 1 thread).
* Detection across runs: slower (run i+1) vs base (run i), and each row's minimum detectable change.

Run: `.venv/bin/python benchmarks/validity.py [--runs 12] [--repeats 6]` (about 40 s a run here).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build_models(folder: Path) -> dict[str, Path]:
    """Return base.tflite and slower.tflite: the same CNN, the second with one more 3x3 convolution."""
    import keras
    import tensorflow as tf

    def cnn(extra_layer: bool) -> Path:
        keras.utils.set_random_seed(3)
        inputs = keras.Input((28, 28, 1))
        x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
        if extra_layer:
            x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
        name = "slower" if extra_layer else "base"
        export = folder / f"{name}-saved"
        model.export(str(export), verbose=False)
        path = folder / f"{name}.tflite"
        path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(export)).convert())
        return path

    return {"base": cnn(False), "slower": cnn(True)}


def write_suite(folder: Path, models: dict[str, Path], repeats: int) -> Path:
    from benchlab.plan.datasets import mnist_splits

    _, _, eval_x, eval_y = mnist_splits()
    data = folder / "digits.npz"
    np.savez(data, inputs=eval_x[:20], labels=eval_y[:20])
    suite = {"name": "validity",
             "models": [{"name": "base", "path": str(models["base"])}, {"name": "base-copy", "path": str(models["base"])},
                        {"name": "slower", "path": str(models["slower"])}],
             "dataset": {"npz": str(data)}, "variants": ["tflite"],
             "accelerators": [{"kind": "cpu", "threads": 1}, {"kind": "cpu", "threads": 2}],
             "scenario": {"warmup": 5, "iterations": 40, "min_seconds": 0.1, "repeats": repeats}}
    path = folder / "validity.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def old_verdict(base: list[float], cand: list[float]) -> str:
    """The iteration-level method benchlab used before: every iteration is a sample."""
    from scipy.stats import mannwhitneyu

    from benchlab.metrics.stats import hodges_lehmann

    estimate, low, high = hodges_lehmann(np.log(base), np.log(cand))
    p_value = mannwhitneyu(cand, base, alternative="two-sided").pvalue
    if not (p_value < 0.05 and low is not None and (low > 0 or high < 0)):
        return "not significant"
    change = 100 * math.expm1(estimate)
    return "regression" if change > 5 else "improved" if change < -5 else "within threshold"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()

    from benchlab.metrics.change import ChangeContext
    from benchlab.metrics.latency import latency_change
    from benchlab.results.history import load_history
    from benchlab.nightly.noise import noise_floors
    from benchlab.pipeline import Callbacks, run_suite
    from benchlab.views.pick import round_values
    from benchlab.metrics.stats import repeat_values_us
    from benchlab.optimize.recipes import RECIPES
    from benchlab.plan.suite import RegressionSpec, load_suite
    from benchlab.results.within_run import paired_change

    work = Path(tempfile.mkdtemp(prefix="benchlab-validity-"))
    suite_path = write_suite(work, build_models(work), args.repeats)
    suite = load_suite(suite_path, RECIPES)
    results = work / "results"
    records = []
    for number in range(args.runs):
        outcome = run_suite(suite, suite_path, results, Callbacks(say=lambda _m: None))
        records.append(outcome.record)
        print(f"run {number + 1}/{args.runs}: {outcome.summary()}", flush=True)

    def rows(record):  # type: ignore[no-untyped-def]
        return {(m.variant.model, m.accelerator.name): m for m in record.measurements if m.status == "ok"}

    counts: dict[str, list[str]] = defaultdict(list)
    mdcs: dict[str, list[float]] = defaultdict(list)
    thresholds = RegressionSpec()

    def context(floor: float | None) -> ChangeContext:
        return ChangeContext(thresholds.latency_pct, thresholds.alpha, thresholds.min_repeats, floor)
    history = load_history(results)
    for i in range(1, len(records)):
        before, after = rows(records[i - 1]), rows(records[i])
        earlier = history[history["run_order"] < i]
        floors = noise_floors(earlier)
        for (model, accel), m in after.items():
            base = before[(model, accel)]
            floor = floors.get((model, "original", "host", accel))
            new = latency_change(repeat_values_us(base.samples_us, ()), repeat_values_us(m.samples_us, ()),
                                 context(floor))
            counts[f"A/A across runs, {accel}: new"].append(new.status)
            counts[f"A/A across runs, {accel}: old"].append(old_verdict(base.all_samples_us, m.all_samples_us))
            if new.mdc_pct is not None:
                mdcs[f"across runs, {accel}"].append(new.mdc_pct)
        for accel in ("cpu-t1", "cpu-t2"):
            base, slower = before[("base", accel)], after[("slower", accel)]
            floor = floors.get(("base", "original", "host", accel))
            new = latency_change(repeat_values_us(base.samples_us, ()), repeat_values_us(slower.samples_us, ()),
                                 context(floor))
            counts[f"slower across runs, {accel}: new"].append(new.status)
            counts[f"slower across runs, {accel}: old"].append(old_verdict(base.all_samples_us, slower.all_samples_us))
    true_ratio = defaultdict(list)
    for record in records:
        by_round = round_values(record.repeat_table)
        by_key = rows(record)
        for accel in ("cpu-t1", "cpu-t2"):
            base, copy, slower = by_key[("base", accel)], by_key[("base-copy", accel)], by_key[("slower", accel)]
            aa = paired_change(by_round[base.job_id], by_round[copy.job_id])
            ab = paired_change(by_round[base.job_id], by_round[slower.job_id])
            counts[f"A/A within a run, {accel}: new"].append(aa.verdict)
            counts[f"A/A within a run, {accel}: old"].append(old_verdict(base.all_samples_us, copy.all_samples_us))
            counts[f"slower within a run, {accel}: new"].append(ab.verdict)
            counts[f"slower within a run, {accel}: old"].append(old_verdict(base.all_samples_us, slower.all_samples_us))
            if ab.mdc_pct is not None:
                mdcs[f"within a run, {accel}"].append(ab.mdc_pct)
            true_ratio[accel].append(ab.change_pct)

    print(f"\nvalidity on real host runs: {args.runs} runs x 3 models x 2 thread counts x {args.repeats} "
          "interleaved repeats")
    for accel, changes in true_ratio.items():
        print(f"the slower model is {np.median(changes):+.1f}% at {accel} (median of the within-run paired estimates)")
    print(f"\n{'what':<34}{'verdicts':>9}{'old: flagged':>15}{'new: flagged':>15}")
    for label in sorted({k.rsplit(":", 1)[0] for k in counts}):
        old, new = counts[f"{label}: old"], counts[f"{label}: new"]
        flagged = lambda vs: sum(v in ("regression", "improved") for v in vs)  # noqa: E731
        print(f"{label:<34}{len(new):>9}{flagged(old):>9} ({100 * flagged(old) / len(old):3.0f}%)"
              f"{flagged(new):>9} ({100 * flagged(new) / len(new):3.0f}%)")
    print("\n(A/A rows: flagged = false alarms, goal <= 5%. 'slower' rows: flagged = detected, "
          "goal >= 90% within a run at 1 thread.)")
    print(f"\n{'minimum detectable change':<34}{'median':>9}{'range':>18}")
    for label, values in sorted(mdcs.items()):
        print(f"{label:<34}{np.median(values):>8.1f}%{min(values):>9.1f}-{max(values):.1f}%")
    print(f"\nruns kept in {results}")


if __name__ == "__main__":
    main()
