"""The whole flow for one suite: load data, build variants, pick devices, plan, execute, store.

Each step is a function of plain data from the modules it names; this module only wires them in
the order docs/architecture.md draws. `run` and `resume` (`run_suite` and `resume_run` gated against a
baseline when asked) are the library's entry points (the CLI, through benchlab.commands.run, and a
nightly job call them alike): they return a `RunOutcome`, and everything a user gave wrong is raised
before anything is written. `build` is `benchlab optimize`'s, `calibrate` `benchlab calibrate`'s.
"""

from __future__ import annotations

import getpass
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.plan.datasets import Dataset, load_model_datasets
from benchlab.plan.evaluation import EvaluationData, evaluation_data
from benchlab.execute.devices import Device, discover_devices, select_devices
from benchlab.errors import EXIT_DEVICE_FAILURE, EXIT_INTERRUPTED, EXIT_OK, BenchlabError, DiskFull
from benchlab.execute.executor import Executor, LocalExecutor, StopControl, interleaved_schedule, plan_jobs
from benchlab.records import Job, Measurement, Variant, now_iso
from benchlab.names import file_name
from benchlab.optimize.recipes import RECIPES
from benchlab.results.layout import RunLayout, run_folder
from benchlab.results.run_record import RunRecord
from benchlab.results.store import DEFAULT_RESULTS, RunExists, RunStore, check_results_root
from benchlab.results.run_meta import DataInfo, RunMeta, StoredSuite
from benchlab.plan.suite import Suite, load_suite

if TYPE_CHECKING:
    from benchlab.nightly.compare import CompareResult


class RunInterrupted(BenchlabError):
    """The run was asked to stop: what finished is stored, `--resume` runs the rest."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, run_dir: Path | None, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.run_dir = run_dir


@dataclass(frozen=True)
class Callbacks:
    """What a caller hears while a suite runs (the CLI draws progress from these)."""

    say: Callable[[str], None] = print
    #: How many variants the build will report through `on_variant`, said before it starts.
    on_build_planned: Callable[[int], None] = lambda _n: None
    on_variant: Callable[[Variant], None] | None = None
    on_planned: Callable[[int], None] = lambda _n: None
    on_measurement: Callable[[Measurement], None] = lambda _m: None


@dataclass(frozen=True)
class RunOutcome:
    """A finished (or stopped) run: where it is, its record, and how its jobs ended."""

    run_dir: Path
    record: RunRecord
    interrupted: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    #: The comparison with the baseline, when the run was gated against one.
    comparison: CompareResult | None = None

    @property
    def exit_code(self) -> int:
        """0 when at least one job measured (or there were no jobs), 3 when none did, 130 when stopped,
        1 when the comparison with the baseline failed."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.comparison is not None and self.comparison.verdict:
            return self.comparison.verdict
        ok = sum(m.status == "ok" for m in self.record.measurements)
        return EXIT_OK if ok or not self.record.measurements else EXIT_DEVICE_FAILURE

    def summary(self) -> str:
        """One line: jobs by outcome, failures counted by cause."""
        parts = [f"{count} {name}" for name, count in self.counts.items() if count]
        return "jobs: " + (", ".join(parts) if parts else "none")


def outcome_counts(measurements: Sequence[Measurement]) -> dict[str, int]:
    """Return how many jobs ended how: ok, and each not-ok status by cause (e.g. "failed (model)")."""
    counts: dict[str, int] = {"ok": 0}
    for m in measurements:
        key = m.status if m.status in ("ok", "unsupported") else f"{m.status} ({m.failure_cause or 'model'})"
        counts[key] = counts.get(key, 0) + 1
    return counts


def new_run_store(results_root: Path, suite: Suite, meta: RunMeta) -> RunStore:
    """Create a new run's store with a unique, sortable id: UTC time, the suite's name, and a
    counter when another run took that second (two runs started together on one machine)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{file_name(suite.name)[:60]}"
    for attempt in range(1, 1000):
        store = RunStore(run_folder(results_root, base if attempt == 1 else f"{base}-{attempt}"))
        try:
            store.create(meta)  # mkdir without exist_ok: of two processes, exactly one wins a name
            return store
        except RunExists:
            continue
    raise BenchlabError(f"no free run id for {base} under {results_root}")


def run_meta(suite: Suite, suite_path: Path, devices: Sequence[Device], variants: Sequence[Variant],
             data: Mapping[str, EvaluationData]) -> RunMeta:
    """Return run.json's record: the suite as loaded, host, harness version, devices, variants, data."""
    return RunMeta(
        suite_name=suite.name, suite_path=str(suite_path), suite=StoredSuite.from_json(suite.model_dump(mode="json")),
        harness_version=version("benchlab"),
        host={"hostname": platform.node(), "user": getpass.getuser(), "python": platform.python_version(),
              "platform": platform.platform()},
        devices=tuple(d.info for d in devices), variants=tuple(variants),
        data={model: DataInfo(origin=d.origin, synthetic=d.synthetic, accuracy_output=d.accuracy_output,
                              inputs=tuple(d.inputs)) for model, d in data.items()},
        started_at=now_iso(), finished_at=None,
    )


def run_suite(suite: Suite, suite_path: Path, results_root: Path, callbacks: Callbacks = Callbacks(),
              devices: Sequence[Device] | None = None, stop: StopControl | None = None,
              executor: Executor | None = None, rebuild_failed: bool = False) -> RunOutcome:
    """Run a whole suite; return its outcome (`rebuild_failed`: retry variant builds that failed before).

    Raises SuiteError (bad models or data) and DeviceError (a target names no connected device)
    before anything is written; RunInterrupted when stopped before execution began.
    """
    stop = stop or StopControl()
    check_results_root(results_root)
    targets = select_devices(devices if devices is not None else discover_devices(suite.targets), suite.targets)
    datasets = load_model_datasets(suite)
    variants = _build(suite, datasets, callbacks, rebuild_failed)
    data = evaluation_data(suite, datasets, variants)
    if stop.stopping:
        raise RunInterrupted(None, "interrupted before benchmarking: nothing was measured or written")
    store = new_run_store(results_root, suite, run_meta(suite, suite_path, targets, variants, data))
    with store.exclusive():
        try:
            eval_inputs = {model: store.write_eval_inputs(model, d.inputs, d.labels) for model, d in data.items()}
        except DiskFull as exc:
            store.remove()  # nothing is measured yet: no half-written run is left behind to resume
            raise DiskFull(str(exc), hint="free space and run the suite again") from None
        return _execute(store, suite, variants, targets, eval_inputs, callbacks, stop, executor or LocalExecutor())


def _build(suite: Suite, datasets: Mapping[str, Dataset | None], callbacks: Callbacks,
           rebuild_failed: bool) -> list[Variant]:
    """Build (or reuse) every variant of the suite, saying how many first and each as it is done."""
    from benchlab.optimize.build import build_variants

    callbacks.on_build_planned(sum(len(suite.variants_for(m, RECIPES)) for m in suite.models))
    return build_variants(suite, datasets, callbacks.say, callbacks.on_variant, rebuild_failed)


def build(suite_path: Path, callbacks: Callbacks = Callbacks(), rebuild_failed: bool = False) -> list[Variant]:
    """Build (or reuse) every variant of a suite without running anything (`benchlab optimize`); return
    them, failed builds included (`rebuild_failed`: retry builds that failed before).

    Raises SuiteError for a bad suite, model or data.
    """
    suite = load_suite(suite_path, RECIPES)
    return _build(suite, load_model_datasets(suite), callbacks, rebuild_failed)


def resume_run(run_dir: Path, callbacks: Callbacks = Callbacks(), devices: Sequence[Device] | None = None,
               retry_failed: bool = False, stop: StopControl | None = None,
               executor: Executor | None = None) -> RunOutcome:
    """Finish an interrupted run in place: repeats not stored, or that failed for a reason of the
    device or harness, run again; failures of the model only with `retry_failed`.

    The suite, variants and evaluation data are those the run recorded. Raises StoreError for a
    directory that is not a run, RunBusy while another process measures into it.
    """
    store = RunStore(run_dir)
    meta = store.read_meta()
    with store.exclusive():
        suite = meta.suite.validated(RECIPES, f"{run_dir}: run.json suite")
        variants = meta.variants
        targets = select_devices(devices if devices is not None else discover_devices(suite.targets), suite.targets)
        eval_inputs = store.eval_inputs(v.model for v in variants)
        return _execute(store, suite, variants, targets, eval_inputs, callbacks, stop or StopControl(),
                        executor or LocalExecutor(), retry_failed)


def _execute(store: RunStore, suite: Suite, variants: Sequence[Variant], targets: Sequence[Device],
             eval_inputs: dict[str, str], callbacks: Callbacks, stop: StopControl, executor: Executor,
             retry_failed: bool = False) -> RunOutcome:
    jobs = plan_jobs(store.run_id, suite.name, variants, targets, suite.accelerator_settings(),
                     suite.scenario.scenario(), eval_inputs)
    done, dead = store.progress(retry_failed)
    schedule = interleaved_schedule(jobs, seed=store.run_id, done=done, dead=dead)
    callbacks.on_planned(len(schedule))

    def sink(m: Measurement) -> Measurement:
        try:
            stored = store.append(m)
        except DiskFull:
            stop.stop_dispatch.set()  # nothing more can be kept: no device starts another repeat
            raise
        callbacks.on_measurement(stored)
        return stored

    stop.executing.set()
    try:
        executor.execute(schedule, targets, sink, stop)
        if suite.scenario.sustained_minutes is not None and not stop.stopping:
            _sustain(store, jobs, targets, callbacks, stop, executor)
    except KeyboardInterrupt:
        raise RunInterrupted(store.directory, f"aborted: finished repeats are kept in {store.directory}") from None
    finally:
        stop.executing.clear()
        for device in targets:
            device.close()
    if stop.stopping:
        record = RunRecord.load(store.directory)
        return RunOutcome(store.directory, record, interrupted=True, counts=outcome_counts(record.measurements))
    record = store.finish(now_iso())
    return RunOutcome(store.directory, record, counts=outcome_counts(record.measurements))


def _sustain(store: RunStore, jobs: Sequence[Job], targets: Sequence[Device], callbacks: Callbacks,
             stop: StopControl, executor: Executor) -> None:
    """Run the sustained sessions (benchlab.execute.sustained) of the jobs that have none complete yet
    through the run's executor (here, or on the farm workers that own the devices), each window stored
    as it finishes."""
    from benchlab.execute.sustained import SustainedWindow, sustained_jobs
    from benchlab.results import sustained

    _, dead = store.progress()
    chosen = sustained_jobs(jobs, targets, done=sustained.complete_sessions(store.layout), dead=dead)

    def sink(window: SustainedWindow) -> None:
        if window.index == 0:
            sustained.start_session(store.layout, window.job_id)
        sustained.append_window(store.layout, window)
        busy = window.busy_seconds
        measured = (f"{window.count / busy:.1f} inferences/s{sustained.conditions_text(window.conditions)}"
                    if window.status == "ok" and busy else f"{window.status}: {window.error}")
        callbacks.say(f"  window {window.index + 1}/{window.windows}: {measured}")

    # Each job's mean latency in its repeats sizes its first window for a runner that counts iterations only.
    latencies: dict[str, float] = {}
    for m in store.repeat_records():
        samples = m.all_samples_us or [float(stats["avg_us"]) for stats in m.runner_stats if stats.get("avg_us")]
        if m.status == "ok" and samples:
            latencies[m.job_id] = sum(samples) / len(samples)
    executor.sustain(chosen, targets, sink, stop, latencies, callbacks.say)


#: Files `gate` writes into the candidate run's directory.
def compare_with_baseline(run_dir: Path, baseline: str, results_root: Path,
                          overrides: Mapping[str, float] | None = None,
                          absolute_accuracy_gate: bool | None = None) -> CompareResult:
    """Compare a finished run with its baseline; return the comparison (what `benchlab compare` and the
    gate of `benchlab run --baseline` both report).

    `baseline` is "latest" (the newest earlier finished run of the same suite under
    `results_root`), a run id under `results_root`, or a run directory. Each row's noise floor comes
    from the suite's earlier runs and calibration; `overrides` replace the suite's thresholds
    (benchlab.nightly.thresholds) and `absolute_accuracy_gate` its `accuracy.absolute_gate` (whether a
    standing accuracy miss fails). Raises StoreError when the baseline does not exist, is the run
    itself, or there is no earlier run for "latest" (a first night has nothing to compare with, and
    says so).
    """
    from benchlab.nightly.compare import compare_runs, history_columns
    from benchlab.results.history import latest_before, resolve_run, run_suite_history
    from benchlab.nightly.noise import metric_floors_for_run

    baseline_dir = latest_before(run_dir, results_root) if baseline == "latest" else resolve_run(baseline, results_root)
    history = run_suite_history(run_dir, results_root, history_columns())
    return compare_runs(baseline_dir, run_dir, overrides=dict(overrides or {}), history=history,
                        noise_floors=metric_floors_for_run(run_dir, results_root, history),
                        absolute_accuracy_gate=absolute_accuracy_gate)


def gate(run_dir: Path, baseline: str, results_root: Path) -> CompareResult:
    """Compare a finished run with its baseline (compare_with_baseline, the suite's thresholds) and
    write the CI files into the run; return the comparison. Raises what compare_with_baseline raises."""
    from benchlab.nightly.ci_outputs import write_outputs

    result = compare_with_baseline(run_dir, baseline, results_root)
    gate_files = RunLayout(run_dir).gate_files
    write_outputs(result, gate_files["junit"], gate_files["json"], gate_files["markdown"])
    return result


@dataclass(frozen=True)
class Calibration:
    """What `calibrate` measured: each run's outcome, and each row's noise floor with the file it was
    written to (both None when a run failed: nothing is written from part of the runs)."""

    outcomes: tuple[RunOutcome, ...]
    path: Path | None = None
    #: Noise floor in percent per (model, variant, device_id, accelerator) row.
    floors: dict[tuple[str, str, str, str], float] | None = None


def calibrate(suite_path: Path, results_root: Path, runs: int,
              on_run: Callable[[int, RunOutcome], None] = lambda _number, _outcome: None) -> Calibration:
    """Run a suite `runs` times and write each row's measured run-to-run noise floor beside its runs
    (benchlab.nightly.noise); `on_run(number, outcome)` hears of each run as it ends. Stops at the
    first run that measured nothing. Raises what run_suite raises."""
    from benchlab.nightly.noise import noise_floor_pct, unchanged_changes, write_calibration
    from benchlab.results.history import load_history

    suite = load_suite(suite_path, RECIPES)
    outcomes = []
    for number in range(1, runs + 1):
        outcome = run_suite(suite, suite_path, results_root, Callbacks(say=lambda _m: None))
        outcomes.append(outcome)
        on_run(number, outcome)
        if outcome.exit_code != EXIT_OK:
            return Calibration(tuple(outcomes))
    history = load_history(results_root, suite.name)
    changes = unchanged_changes(history[history["run_id"].isin([o.record.run_id for o in outcomes])])
    path = write_calibration(results_root, suite.name, changes)
    floors = {k: f for k, v in changes.items() if (f := noise_floor_pct(v)) is not None}
    return Calibration(tuple(outcomes), path, floors)


def check_baseline(baseline: str | None, results_root: Path) -> None:
    """Raise StoreError now when `baseline` names a run that does not exist, so a typo costs a
    second, not a whole run ("latest" can only be looked up once the run has finished)."""
    from benchlab.results.history import resolve_run

    if baseline not in (None, "latest"):
        resolve_run(baseline, results_root)


def checked_suite(suite_path: Path, baseline: str | None, results_root: Path) -> Suite:
    """Return the suite at `suite_path`, loaded and validated, once `baseline` is known to exist: what
    `run` refuses before any work. Raises SuiteError (a bad suite) and StoreError (no such baseline)."""
    check_baseline(baseline, results_root)
    return load_suite(suite_path, RECIPES)


def run(suite_path: Path | str, results_root: Path | str = DEFAULT_RESULTS, baseline: str | None = None,
        callbacks: Callbacks = Callbacks(), devices: Sequence[Device] | None = None,
        stop: StopControl | None = None, executor: Executor | None = None,
        rebuild_failed: bool = False) -> RunOutcome:
    """The library's one entry point: load a suite, run it, and gate it against `baseline` if given.

    Returns the RunOutcome; with a baseline, `outcome.comparison` holds the comparison (its
    `verdict` is 1 on a regression). Raises what run_suite and gate raise.
    """
    suite_path, results_root = Path(suite_path), Path(results_root)
    outcome = run_suite(checked_suite(suite_path, baseline, results_root), suite_path, results_root, callbacks,
                        devices, stop, executor, rebuild_failed)
    return gated(outcome, baseline, results_root)


def resume(run_dir: Path, results_root: Path | str = DEFAULT_RESULTS, baseline: str | None = None,
           callbacks: Callbacks = Callbacks(), devices: Sequence[Device] | None = None, retry_failed: bool = False,
           stop: StopControl | None = None, executor: Executor | None = None) -> RunOutcome:
    """Finish an interrupted run (resume_run) and gate it against `baseline` if given, as `run` does.

    Raises what resume_run and gate raise.
    """
    results_root = Path(results_root)
    check_baseline(baseline, results_root)
    return gated(resume_run(run_dir, callbacks, devices, retry_failed, stop, executor), baseline, results_root)


def gated(outcome: RunOutcome, baseline: str | None, results_root: Path) -> RunOutcome:
    """Return `outcome` with its comparison with `baseline` (gate), when one is asked for and the run
    ended with something measured. Raises what gate raises (no such baseline yet)."""
    if baseline is None or outcome.interrupted or outcome.exit_code != EXIT_OK:
        return outcome
    return replace(outcome, comparison=gate(outcome.run_dir, baseline, results_root))
