"""The whole flow for one suite: load data, build variants, pick devices, plan, execute, store.

Each step is a function of plain data from the modules it names; this module only wires them in
the order DESIGN.md draws, and is what `benchlab run` calls.
"""

from __future__ import annotations

import getpass
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np

from benchlab.datasets import Dataset, load_dataset
from benchlab.devices import Device, discover_devices, select_devices
from benchlab.executor import EvalSet, execute, plan_jobs
from benchlab.names import file_name
from benchlab.records import Measurement, Variant, now_iso
from benchlab.store import RunStore
from benchlab.suite import Suite


def new_run_id(suite: Suite) -> str:
    """Return a sortable, readable run id: UTC time plus the suite's name."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_-]+', '-', suite.name)}"


def _input_shape(variant: Variant) -> tuple[int, ...] | None:
    """Read a .tflite variant's per-sample input shape with LiteRT (no TensorFlow import)."""
    if variant.format != "tflite" or variant.status == "failed" or not variant.path:
        return None
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_path=variant.path).get_input_details()[0]
    return tuple(int(d) for d in detail["shape"][1:])


def write_eval_sets(store: RunStore, dataset: Dataset, variants: Sequence[Variant], top_k: int) -> dict[str, EvalSet]:
    """Store each model's evaluation inputs (shaped for its runnable variants) and labels."""
    folder = store.directory / "inputs"
    folder.mkdir(exist_ok=True)
    eval_sets: dict[str, EvalSet] = {}
    for model in dict.fromkeys(v.model for v in variants):
        shape = next((s for v in variants if v.model == model and (s := _input_shape(v))), None)
        fitted = dataset.fitted_to(shape) if shape else dataset
        inputs_path = folder / f"{file_name(model)}.npy"
        np.save(inputs_path, fitted.inputs)
        if fitted.labels is not None:
            np.save(folder / f"{file_name(model)}.labels.npy", fitted.labels)
        eval_sets[model] = EvalSet(str(inputs_path), fitted.labels, top_k)
    return eval_sets


def run_meta(suite: Suite, suite_path: Path, devices: Sequence[Device], variants: Sequence[Variant]) -> dict:
    """Return run.json's content: the suite as loaded, host, harness version, devices, variants."""
    return {
        "suite_name": suite.name,
        "suite_path": str(suite_path),
        "suite": suite.model_dump(mode="json"),
        "harness_version": version("benchlab"),
        "host": {"hostname": platform.node(), "user": getpass.getuser(), "python": platform.python_version(),
                 "platform": platform.platform()},
        "devices": [asdict(d.info) for d in devices],
        "variants": [asdict(v) for v in variants],
        "started_at": now_iso(),
        "finished_at": None,
    }


def run_suite(suite: Suite, suite_path: Path, results_root: Path,
              say: Callable[[str], None] = print,
              on_variant: Callable[[Variant], None] | None = None,
              on_planned: Callable[[int], None] = lambda _n: None,
              on_measurement: Callable[[Measurement], None] = lambda _m: None,
              devices: Sequence[Device] | None = None) -> Path:
    """Run a whole suite and return its results directory.

    Raises SuiteError (bad models or data) before anything is written, DeviceError when a target
    names no connected device.
    """
    targets = select_devices(devices if devices is not None else discover_devices(suite.targets), suite.targets)
    dataset = load_dataset(suite.dataset)
    from benchlab.optimize.build import build_variants

    variants = build_variants(suite, dataset, say, on_variant)
    store = RunStore(results_root / new_run_id(suite))
    meta = run_meta(suite, suite_path, targets, variants)
    store.create(meta)
    eval_sets = write_eval_sets(store, dataset, variants, suite.accuracy.top_k)
    _execute_run(store, suite, variants, targets, eval_sets, on_planned, on_measurement)
    return store.directory


def _execute_run(store: RunStore, suite: Suite, variants: Sequence[Variant], targets: Sequence[Device],
                 eval_sets: dict[str, EvalSet], on_planned: Callable[[int], None],
                 on_measurement: Callable[[Measurement], None]) -> None:
    jobs = plan_jobs(store.run_id, suite.name, variants, targets, suite.accelerator_settings(),
                     suite.scenario.scenario(), eval_sets)
    remaining = len(jobs) - len(store.completed_job_ids() & {j.job_id for j in jobs})
    on_planned(remaining)
    execute(jobs, targets, store, eval_sets, on_measurement)
    store.write_meta({**store.read_meta(), "finished_at": now_iso()})


def resume_run(run_dir: Path, on_planned: Callable[[int], None] = lambda _n: None,
               on_measurement: Callable[[Measurement], None] = lambda _m: None,
               devices: Sequence[Device] | None = None) -> Path:
    """Finish an interrupted run in place: the jobs without a stored measurement run, nothing else.

    The suite, variants and evaluation data are those the run recorded, so the finished run is as
    if it had never stopped. Raises StoreError for a directory that is not a run.
    """
    store = RunStore(run_dir)
    meta = store.read_meta()
    suite = Suite.model_validate(meta["suite"])
    variants = [Variant(**v) for v in meta["variants"]]
    targets = select_devices(devices if devices is not None else discover_devices(suite.targets), suite.targets)
    eval_sets = {}
    for model in dict.fromkeys(v.model for v in variants):
        inputs = run_dir / "inputs" / f"{file_name(model)}.npy"
        labels = run_dir / "inputs" / f"{file_name(model)}.labels.npy"
        eval_sets[model] = EvalSet(str(inputs), np.load(labels) if labels.exists() else None, suite.accuracy.top_k)
    _execute_run(store, suite, variants, targets, eval_sets, on_planned, on_measurement)
    return run_dir
