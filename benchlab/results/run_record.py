"""One run as data: the record every view takes, and the tidy tables.

`RunRecord.load(directory)` reads a run once (benchlab.results.store knows the layout) and returns its
metadata (benchlab.results.run_meta.RunMeta), every repeat as stored, one Measurement per job (its repeats combined, then scored by
benchlab.results.scoring) and, on demand, the tidy tables: one row per measurement, per iteration and per
repeat. `load_results` / `load_samples` give the same tables for one run or every run under a
results root, from the Parquet files a finished run exported when they are there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlab.errors import StoreError
from benchlab.metrics import registered
from benchlab.metrics.accuracy import SYNTHETIC_NOTE
from benchlab.records import Measurement, Variant, describe_ops
from benchlab.results.layout import RunLayout
from benchlab.results.run_meta import RunMeta
from benchlab.results.store import (
    read_repeat_records,
    read_run_meta,
    run_directories,
)

if TYPE_CHECKING:
    import numpy as np

    from benchlab.tensors import Feeds
    import pandas as pd


def combine_repeats(records: Sequence[Measurement]) -> Measurement:
    """Return one job's measurement from its repeat records (the last record of a repeat wins).

    With at least one repeat ok, the measurement is ok and holds the ok repeats' samples in
    repeat order; repeats that failed are named in `error` and flagged. With none ok, it is the
    first failed repeat's record. Init, first inference, warmup and outputs come from the first
    ok repeat (the one that evaluated), the op profile from the repeat that ran it, peak memory is
    the largest, conditions span the repeats, other reported values (`metric_values`) are their
    median over the repeats that reported them. `repeat_values` holds each registered metric's value
    per ok repeat (benchlab.metrics), from which the metric computes its statistic.
    """
    latest = sorted({r.repeat: r for r in records}.values(), key=lambda r: r.repeat)
    ok = [r for r in latest if r.status == "ok"]
    if not ok:
        return latest[0]
    failed = [r for r in latest if r.status != "ok"]
    first = next((r for r in ok if r.outputs_file), ok[0])
    # Only one repeat runs the op-profiling pass (the first); it may not be the one that evaluated.
    profiled = next((r for r in ok if r.op_profile or r.op_profile_note), first)
    peaks = [r.peak_memory_mb for r in ok if r.peak_memory_mb is not None]
    flags = [f for r in ok for f in r.flags] + (["repeats-failed"] if failed else [])
    error = "; ".join(f"repeat {r.repeat} {r.status}: {r.error}" for r in failed) or None
    return replace(
        ok[0],
        init_us=first.init_us, first_us=first.first_us, warmup_us=first.warmup_us,
        compile_us=first.compile_us, memory_init_mb=first.memory_init_mb,
        outputs_file=first.outputs_file, accuracy_note=first.accuracy_note,
        op_profile=profiled.op_profile, delegated_time_pct=profiled.delegated_time_pct,
        op_profile_note=profiled.op_profile_note,
        samples_us=tuple(s for r in ok for s in r.samples_us),
        runner_stats=tuple(s for r in ok for s in r.runner_stats),
        runner_output="\n".join(r.runner_output for r in ok if r.runner_output) or None,
        peak_memory_mb=max(peaks) if peaks else None,
        conditions_before=ok[0].conditions_before, conditions_after=ok[-1].conditions_after,
        flags=tuple(dict.fromkeys(flags)), error=error, repeat=0, slot=None,
        metric_values=_median_metric_values(ok),
        repeat_values={metric.name: values for metric in registered()
                       if (values := tuple(v for r in ok if (v := metric.repeat_value(r)) is not None))},
        started_at=min(r.started_at for r in latest if r.started_at) if any(r.started_at for r in latest) else None,
        finished_at=max(r.finished_at for r in latest if r.finished_at) if any(r.finished_at for r in latest) else None,
    )


def _median_metric_values(ok: Sequence[Measurement]) -> dict[str, float]:
    """Return each reported metric value's median over the ok repeats that reported it (a rail's share
    of the energy, the idle power ...); the metrics' own statistics come from `repeat_values`."""
    import statistics

    keys = dict.fromkeys(key for r in ok for key in r.metric_values)
    return {key: float(statistics.median(r.metric_values[key] for r in ok if key in r.metric_values)) for key in keys}


def combine_jobs(records: Sequence[Measurement]) -> list[Measurement]:
    """Return one measurement per job, in the order each job first appears."""
    by_job: dict[str, list[Measurement]] = {}
    for record in records:
        by_job.setdefault(record.job_id, []).append(record)
    return [combine_repeats(rs) for rs in by_job.values()]


@dataclass(frozen=True)
class RunRecord:
    """One run as data: metadata, every stored repeat, one scored measurement per job.

    Build it with `RunRecord.load(directory)`; every view takes it instead of a directory.
    """

    directory: Path
    meta: RunMeta
    repeats: tuple[Measurement, ...]
    measurements: tuple[Measurement, ...]

    @classmethod
    def load(cls, directory: Path | str) -> RunRecord:
        """Read a run directory once; raise StoreError when it is not a run of a known version."""
        from benchlab.results.scoring import score_measurements

        directory = Path(directory)
        meta = read_run_meta(directory)
        repeats = tuple(read_repeat_records(directory))
        loader = _ArrayLoader(directory)
        scored = score_measurements(combine_jobs(repeats), loader.outputs, loader.labels, meta.accuracy_settings)
        return cls(directory, meta, repeats, tuple(scored))

    @property
    def run_id(self) -> str:
        """The run id (run.json's, else the directory's name)."""
        return self.meta.run_id or self.directory.name

    @property
    def variants(self) -> list[Variant]:
        """The variants the run recorded, as built."""
        return list(self.meta.variants)

    def eval_set_digest(self, model: str) -> str | None:
        """Return a digest of a model's stored evaluation inputs and labels, None when not stored."""
        import hashlib

        layout = RunLayout(self.directory)
        inputs = layout.stored_eval_inputs(model)
        if inputs is None:
            return None
        paths = [inputs, layout.labels(model)]
        digest = hashlib.sha256()
        for path in paths:
            if path.exists():
                digest.update(path.read_bytes())
        return digest.hexdigest()

    @cached_property
    def results(self) -> pd.DataFrame:
        """One row per measurement (repeats combined): identity, size, latency stats, accuracy, conditions."""
        import pandas as pd

        frame = pd.DataFrame([measurement_row(m) for m in self.measurements])
        if not frame.empty:
            frame["data"] = frame["model"].map(self.data_labels)
        return frame

    @property
    def data_labels(self) -> dict[str, str]:
        """Each model's evaluation data in a few words: "synthetic: fidelity only", or where it came from."""
        return {model: SYNTHETIC_NOTE if info.synthetic else info.origin for model, info in self.meta.data.items()}

    @cached_property
    def output_fidelity(self) -> pd.DataFrame:
        """One row per (measurement, output) compared with its reference: errors, cosine, SNR, top-1."""
        from dataclasses import asdict

        import pandas as pd

        rows = [{"model": m.variant.model, "variant": m.variant.name, "device_id": m.device.id,
                 "accelerator": m.accelerator.name, "reference": m.fidelity.reference_variant,
                 **asdict(o)}
                for m in self.measurements if m.fidelity is not None for o in m.fidelity.outputs]
        return pd.DataFrame(rows, columns=["model", "variant", "device_id", "accelerator", "reference", "name",
                                           "max_abs_error", "mean_abs_error", "cosine", "snr_db", "top1_agreement"])

    @cached_property
    def samples(self) -> pd.DataFrame:
        """One row per timed invocation (see `samples_frame`)."""
        return samples_frame(self.measurements)

    @cached_property
    def repeat_table(self) -> pd.DataFrame:
        """One row per stored repeat: job, repeat, slot, status, cause, latency, start, conditions."""
        import pandas as pd

        from benchlab.metrics.stats import repeat_values_us

        rows = []
        for r in self.repeats:
            value = repeat_values_us(r.samples_us, r.runner_stats)
            before = r.conditions_before
            rows.append({"run_id": r.run_id, "job_id": r.job_id, "model": r.variant.model, "variant": r.variant.name,
                         "device_id": r.device.id, "accelerator": r.accelerator.name, "repeat": r.repeat,
                         "slot": r.slot, "status": r.status, "failure_cause": r.failure_cause, "error": r.error,
                         "latency_ms": value[0] / 1000.0 if value else None, "started_at": r.started_at,
                         "thermal_status_before": before.thermal_status if before else None,
                         "load_average_before": before.load_average if before else None})
        return pd.DataFrame(rows)


class _ArrayLoader:
    """Reads the arrays a run stored (outputs, labels) for the scoring stage."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def outputs(self, m: Measurement) -> Feeds | None:
        from benchlab.tensors import load_feeds

        if not m.outputs_file or not (self.directory / m.outputs_file).exists():
            return None
        return load_feeds(self.directory / m.outputs_file)

    def labels(self, model: str) -> np.ndarray | None:
        import numpy as np

        path = RunLayout(self.directory).labels(model)
        return np.load(path) if path.exists() else None


def measurement_row(m: Measurement) -> dict[str, Any]:
    """Return the tidy-table row of one measurement: identity, every registered metric's columns
    (benchlab.metrics: size, latency, memory, accuracy, fidelity, init ...), delegation, conditions."""
    before, after = m.conditions_before, m.conditions_after
    row = {
        "run_id": m.run_id, "suite": m.suite, "job_id": m.job_id,
        "model": m.variant.model, "variant": m.variant.name, "recipe": m.variant.recipe,
        "format": m.variant.format, "parent": m.variant.parent, "variant_sha256": m.variant.sha256,
        "device_id": m.device.id, "platform": m.device.platform, "device_model": m.device.model,
        "soc": m.device.soc, "os_version": m.device.os_version, "tier": m.device.tier,
        "accelerator": m.accelerator.name, "accelerator_kind": m.accelerator.kind,
        "threads": m.accelerator.threads, "xnnpack": m.accelerator.xnnpack,
        "runner": m.runner, "runner_version": m.runner_version,
        "status": m.status, "failure_cause": m.failure_cause, "error": m.error, "flags": ",".join(m.flags),
    }
    for metric in registered():
        row.update(metric.columns(m))
    row.update({
        "delegated_nodes": m.delegated_nodes, "total_nodes": m.total_nodes,
        "delegate_applied": m.delegate_applied,
        "delegated_time_pct": m.delegated_time_pct,
        # "" when profiled and nothing fell back; None when not profiled or on the CPU anyway.
        "cpu_fallback_ops": describe_ops(m.cpu_fallback_ops) if m.op_profile and m.accelerator.kind != "cpu" else None,
        "op_profile_note": m.op_profile_note,
        "thermal_status_before": before.thermal_status if before else None,
        "thermal_status_after": after.thermal_status if after else None,
        "battery_temperature_c_before": before.battery_temperature_c if before else None,
        "load_average_before": before.load_average if before else None,
        "started_at": m.started_at, "finished_at": m.finished_at,
    })
    return row


SAMPLE_COLUMNS = ["run_id", "job_id", "model", "variant", "device_id", "accelerator", "phase", "repeat",
                  "iteration", "latency_us"]


def samples_frame(measurements: Iterable[Measurement]) -> pd.DataFrame:
    """Return one row per timed invocation: run_id, job_id, model, variant, device_id,
    accelerator, phase ("warmup" or "measured"), repeat, iteration, latency_us."""
    import pandas as pd

    rows = []
    for m in measurements:
        ident = {"run_id": m.run_id, "job_id": m.job_id, "model": m.variant.model, "variant": m.variant.name,
                 "device_id": m.device.id, "accelerator": m.accelerator.name}
        for i, value in enumerate(m.warmup_us):
            rows.append({**ident, "phase": "warmup", "repeat": 0, "iteration": i, "latency_us": value})
        for repeat, samples in enumerate(m.samples_us):
            for i, value in enumerate(samples):
                rows.append({**ident, "phase": "measured", "repeat": repeat, "iteration": i, "latency_us": value})
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def _tables(runs: Sequence[Path], exported_table: Callable[[RunLayout], Path], attribute: str,
            columns: Sequence[str] | None = None, on_error: Callable[[Path, StoreError], None] | None = None
            ) -> tuple[pd.DataFrame, list[int]]:
    """Return one table of `runs` (a finished run's exported Parquet, else computed from its records)
    and how many rows each run gave. A run that raises StoreError is `on_error`'s (0 rows), else raised."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts: list[pa.Table | pd.DataFrame] = []
    counts = []
    for run in runs:
        exported = exported_table(RunLayout(run))
        try:
            if exported.exists():  # a finished run's table: only the columns asked for are read
                parquet = pq.ParquetFile(exported)
                names = set(parquet.schema_arrow.names)  # an older run may lack a newer column
                part = parquet.read(columns=None if columns is None else [c for c in columns if c in names],
                                    use_threads=False)  # threads cost more than they give on a 1,200-row file
            else:
                frame = getattr(RunRecord.load(run), attribute)
                part = frame if columns is None else frame[[c for c in columns if c in frame.columns]]
        except StoreError as exc:
            if on_error is None:
                raise
            on_error(run, exc)
            part = pd.DataFrame()
        counts.append(part.num_rows if isinstance(part, pa.Table) else len(part))
        if counts[-1]:
            parts.append(part)
    if parts and all(isinstance(p, pa.Table) and p.schema == parts[0].schema for p in parts):
        # One conversion of the whole history: per run, pandas' conversion was most of a long history's read.
        return pa.concat_tables(parts).to_pandas(), counts
    frames = [p.to_pandas() if isinstance(p, pa.Table) else p for p in parts]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), counts


def results_of_runs(runs: Sequence[Path], columns: Sequence[str] | None = None,
                    on_error: Callable[[Path, StoreError], None] | None = None) -> tuple[pd.DataFrame, list[int]]:
    """Return `load_results` of several run directories as one DataFrame, and how many rows each run
    gave, in order; a run that cannot be read is handed to `on_error` (its count 0) when given, else
    its StoreError is raised."""
    return _tables(runs, lambda layout: layout.measurements_parquet, "results", columns, on_error)


def load_results(path: Path | str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Return a tidy DataFrame, one row per measurement, of the run (or runs) at `path`.

    Latency columns are statistics computed from the stored raw samples (a finished run's
    measurements.parquet holds them). Rows of several runs keep the fields that make them
    incomparable (os_version, runner, runner_version, variant_sha256) as columns. With `columns`,
    only those are read (those a run has), which is what makes a long history quick to read.
    Raises StoreError when `path` holds no run or a run of an unknown schema version.
    """
    return results_of_runs(run_directories(path), columns)[0]


def load_samples(path: Path | str) -> pd.DataFrame:
    """Return one row per timed invocation of the run (or runs) at `path` (see `samples_frame`)."""
    table = _tables(run_directories(path), lambda layout: layout.samples_parquet, "samples")[0]
    return table if not table.empty else samples_frame(())
