"""The results store: results/<run_id>/ with run.json and one measurement record per line.

Layout of a run directory:
    run.json             schema version, suite as loaded, host, harness version, devices, variants,
                         start and end
    measurements.jsonl   one JSON record per finished job, appended and fsync'ed as it finishes, so a
                         crash or a pulled cable loses at most the job in flight
    outputs/JOB.npy      a job's outputs on the evaluation inputs (accuracy can be recomputed)
    inputs/MODEL.npy     the evaluation inputs and labels (inputs/MODEL.labels.npy) used

Schema history (bump SCHEMA_VERSION and migrate in `_migrate` when a record changes shape):
    1  first version: Measurement records as in benchlab.records, latencies in microseconds,
       accuracy in percent, accuracy_delta in percentage points.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlab.errors import StoreError
from benchlab.records import (
    AcceleratorSetting,
    Conditions,
    DeviceInfo,
    Fidelity,
    Measurement,
    Variant,
)
from benchlab.stats import LatencySummary, summarize

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
MEASUREMENTS_FILE = "measurements.jsonl"


def measurement_to_record(measurement: Measurement) -> dict[str, Any]:
    """Return a JSON-ready dict of a measurement (outputs excluded; they go to their own file)."""
    record = asdict(measurement)
    record.pop("outputs", None)
    record["schema_version"] = SCHEMA_VERSION
    return record


def _conditions(raw: dict[str, Any] | None) -> Conditions | None:
    return Conditions(**raw) if raw else None


def measurement_from_record(record: dict[str, Any]) -> Measurement:
    """Rebuild a Measurement from a stored record; raise StoreError for an unknown schema version."""
    record = _migrate(dict(record))
    names = {f.name for f in fields(Measurement)}
    values = {k: v for k, v in record.items() if k in names}
    values["variant"] = Variant(**record["variant"])
    values["device"] = DeviceInfo(**record["device"])
    values["accelerator"] = AcceleratorSetting(**record["accelerator"])
    values["fidelity"] = Fidelity(**record["fidelity"]) if record.get("fidelity") else None
    values["conditions_before"] = _conditions(record.get("conditions_before"))
    values["conditions_after"] = _conditions(record.get("conditions_after"))
    values["warmup_us"] = tuple(record.get("warmup_us") or ())
    values["samples_us"] = tuple(tuple(r) for r in record.get("samples_us") or ())
    values["flags"] = tuple(record.get("flags") or ())
    values["runner_stats"] = tuple(record.get("runner_stats") or ())
    return Measurement(**values)


def _migrate(record: dict[str, Any]) -> dict[str, Any]:
    found = record.pop("schema_version", None)
    if found != SCHEMA_VERSION:
        raise StoreError(
            f"measurement record has schema version {found!r}; this benchlab reads version {SCHEMA_VERSION}",
            hint="open it with the benchlab version that wrote it (see run.json harness_version)",
        )
    return record


class RunStore:
    """One run's directory: writes run.json and appends measurements crash-safely."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()  # one writer per device thread
        self._tail_checked = False

    @property
    def run_id(self) -> str:
        """The run id: the directory's name."""
        return self.directory.name

    def create(self, run_meta: dict[str, Any]) -> None:
        """Create the directory and write run.json; raise StoreError if the run already exists."""
        if (self.directory / RUN_FILE).exists():
            raise StoreError(f"{self.directory} already holds a run", hint="use --resume to finish it")
        (self.directory / "outputs").mkdir(parents=True, exist_ok=True)
        self.write_meta({"schema_version": SCHEMA_VERSION, "run_id": self.run_id, **run_meta})

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace run.json atomically (write a temporary file, then rename)."""
        partial = self.directory / f"{RUN_FILE}.partial"
        partial.write_text(json.dumps(meta, indent=2, default=str))
        partial.replace(self.directory / RUN_FILE)

    def read_meta(self) -> dict[str, Any]:
        """Return run.json; raise StoreError when missing or of an unknown schema version."""
        return read_run_meta(self.directory)

    def append(self, measurement: Measurement) -> Measurement:
        """Write the outputs file and append the record, flushed and fsync'ed; return it as stored."""
        from dataclasses import replace

        if measurement.outputs is not None:
            import numpy as np

            outputs_file = f"outputs/{measurement.job_id}.npy"
            np.save(self.directory / outputs_file, measurement.outputs)
            measurement = replace(measurement, outputs_file=outputs_file)
        line = json.dumps(measurement_to_record(measurement), default=str)
        with self._lock:
            if not self._tail_checked:
                self._drop_torn_tail()
                self._tail_checked = True
            self._write_line(line)
        return measurement

    def _drop_torn_tail(self) -> None:
        """Cut a record a crash left half-written, so the next record starts on its own line."""
        path = self.directory / MEASUREMENTS_FILE
        if not path.exists() or path.stat().st_size == 0:
            return
        with open(path, "rb+") as handle:
            data = handle.read()
            if data.endswith(b"\n"):
                return
            log.warning("%s: dropping an incomplete last record (interrupted write)", path)
            handle.truncate(data.rfind(b"\n") + 1)

    def _write_line(self, line: str) -> None:
        with open(self.directory / MEASUREMENTS_FILE, "a") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def measurements(self) -> list[Measurement]:
        """Return the stored measurements; a torn last line (crash mid-write) is skipped."""
        path = self.directory / MEASUREMENTS_FILE
        if not path.exists():
            return []
        found: list[Measurement] = []
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    log.warning("%s: last record is incomplete (interrupted write); ignored", path)
                    continue
                raise StoreError(f"{path}:{number}: not a JSON record") from None
            found.append(measurement_from_record(record))
        return found

    def completed_job_ids(self) -> set[str]:
        """Return ids of jobs with a stored measurement (what --resume skips)."""
        return {m.job_id for m in self.measurements()}


def read_run_meta(directory: Path) -> dict[str, Any]:
    """Return a run's run.json; raise StoreError when it is missing or of an unknown version."""
    path = directory / RUN_FILE
    if not path.is_file():
        raise StoreError(f"{directory} is not a benchlab run (no {RUN_FILE})",
                         hint="pass a results/<run_id> directory")
    meta = json.loads(path.read_text())
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise StoreError(f"{path}: schema version {meta.get('schema_version')!r} is not {SCHEMA_VERSION}")
    return meta


def run_directories(path: Path | str) -> list[Path]:
    """Return the run directories at `path`: itself if it is a run, else its runs, oldest first."""
    root = Path(path)
    if (root / RUN_FILE).is_file():
        return [root]
    if not root.is_dir():
        raise StoreError(f"{root} does not exist")
    runs = sorted(p for p in root.iterdir() if (p / RUN_FILE).is_file())
    if not runs:
        raise StoreError(f"{root} holds no benchlab runs")
    return runs


def latency_summary(m: Measurement) -> tuple[LatencySummary | None, str | None]:
    """Return the latency statistics of a measurement and where they come from.

    "samples": computed from every measured iteration. "runner-repeats": the runner reports only
    per-run statistics (benchmark_model), so each repeat's median (or mean, when the tool prints no
    median) is one sample; its confidence interval needs 6 or more repeats.
    """
    if m.all_samples_us:
        return summarize(m.all_samples_us), "samples"
    per_repeat = [s.get("median_us") or s.get("avg_us") for s in m.runner_stats]
    per_repeat = [v for v in per_repeat if v is not None]
    if per_repeat:
        return summarize(per_repeat), "runner-repeats"
    return None, None


def measurement_row(m: Measurement) -> dict[str, Any]:
    """Return the tidy-table row of one measurement: identity, sizes, latency stats, accuracy, conditions."""
    summary, source = latency_summary(m)
    before, after = m.conditions_before, m.conditions_after
    return {
        "run_id": m.run_id, "suite": m.suite, "job_id": m.job_id,
        "model": m.variant.model, "variant": m.variant.name, "recipe": m.variant.recipe,
        "format": m.variant.format, "parent": m.variant.parent, "variant_sha256": m.variant.sha256,
        "device_id": m.device.id, "platform": m.device.platform, "device_model": m.device.model,
        "soc": m.device.soc, "os_version": m.device.os_version, "tier": m.device.tier,
        "accelerator": m.accelerator.name, "accelerator_kind": m.accelerator.kind,
        "threads": m.accelerator.threads, "xnnpack": m.accelerator.xnnpack,
        "runner": m.runner, "runner_version": m.runner_version,
        "status": m.status, "error": m.error, "flags": ",".join(m.flags),
        "size_bytes": m.variant.size_bytes, "size_compressed_bytes": m.variant.size_compressed_bytes,
        "init_ms": m.init_us / 1000.0 if m.init_us is not None else None,
        "first_ms": m.first_us / 1000.0 if m.first_us is not None else None,
        "compile_ms": m.compile_us / 1000.0 if m.compile_us is not None else None,
        "latency_source": source,
        "latency_count": summary.count if summary else 0,
        "latency_ms_median": summary.median_ms if summary else None,
        "latency_ms_mean": summary.mean_ms if summary else None,
        "latency_ms_std": summary.std_ms if summary else None,
        "latency_ms_min": summary.min_ms if summary else None,
        "latency_ms_p5": summary.p5_ms if summary else None,
        "latency_ms_p90": summary.p90_ms if summary else None,
        "latency_ms_p95": summary.p95_ms if summary else None,
        "latency_ms_ci_low": summary.ci_low_ms if summary else None,
        "latency_ms_ci_high": summary.ci_high_ms if summary else None,
        "latency_cv": summary.cv if summary else None,
        "memory_init_mb": m.memory_init_mb, "peak_memory_mb": m.peak_memory_mb,
        "delegated_nodes": m.delegated_nodes, "total_nodes": m.total_nodes,
        "delegate_applied": m.delegate_applied,
        "accuracy_metric": m.accuracy_metric, "accuracy": m.accuracy, "accuracy_delta": m.accuracy_delta,
        "accuracy_note": m.accuracy_note,
        "fidelity_reference": m.fidelity.reference_variant if m.fidelity else None,
        "fidelity_top1_agreement": m.fidelity.top1_agreement if m.fidelity else None,
        "fidelity_max_abs_error": m.fidelity.max_abs_error if m.fidelity else None,
        "fidelity_mean_abs_error": m.fidelity.mean_abs_error if m.fidelity else None,
        "thermal_status_before": before.thermal_status if before else None,
        "thermal_status_after": after.thermal_status if after else None,
        "battery_temperature_c_before": before.battery_temperature_c if before else None,
        "load_average_before": before.load_average if before else None,
        "started_at": m.started_at, "finished_at": m.finished_at,
    }


def load_measurements(path: Path | str) -> list[Measurement]:
    """Return every measurement of the run (or of every run) at `path`."""
    return [m for run in run_directories(path) for m in RunStore(run).measurements()]


def load_results(path: Path | str) -> pd.DataFrame:
    """Return a tidy DataFrame, one row per measurement, of the run (or runs) at `path`.

    Latency columns are statistics computed here from the stored raw samples. Raises StoreError
    when `path` holds no run or a run of an unknown schema version.
    """
    import pandas as pd

    rows = [measurement_row(m) for m in load_measurements(path)]
    return pd.DataFrame(rows)


def load_samples(path: Path | str) -> pd.DataFrame:
    """Return one row per timed invocation: run_id, job_id, model, variant, device_id,
    accelerator, phase ("warmup" or "measured"), repeat, iteration, latency_us."""
    import pandas as pd

    rows = []
    for m in load_measurements(path):
        ident = {"run_id": m.run_id, "job_id": m.job_id, "model": m.variant.model, "variant": m.variant.name,
                 "device_id": m.device.id, "accelerator": m.accelerator.name}
        for i, value in enumerate(m.warmup_us):
            rows.append({**ident, "phase": "warmup", "repeat": 0, "iteration": i, "latency_us": value})
        for repeat, samples in enumerate(m.samples_us):
            for i, value in enumerate(samples):
                rows.append({**ident, "phase": "measured", "repeat": repeat, "iteration": i, "latency_us": value})
    columns = ["run_id", "job_id", "model", "variant", "device_id", "accelerator", "phase", "repeat",
               "iteration", "latency_us"]
    return pd.DataFrame(rows, columns=columns)
