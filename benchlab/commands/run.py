"""`benchlab run`: run a suite or finish an interrupted run, here or on a farm, gate it against a
baseline when asked, and write its report.

The pipeline (benchlab.pipeline.run / resume) does the run and the gate; this adds what the command
does around it: the farm's session, the report of what was measured and check's warnings on a gated
run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from benchlab.commands.report import RunReport, report_run
from benchlab.decide.check import CheckWarning, check_run
from benchlab.errors import BenchlabError, UsageError
from benchlab.execute.executor import StopControl
from benchlab.execute.farm_address import cluster_address
from benchlab.pipeline import (
    Callbacks,
    RunInterrupted,
    RunOutcome,
    check_baseline,
    checked_suite,
    gated,
    resume,
    run,
)
from benchlab.results.layout import RunLayout, run_folder
from benchlab.results.store import DEFAULT_RESULTS


@dataclass(frozen=True)
class RunRequest:
    """What to run: a suite, or (`resume`) an interrupted run, and how."""

    suite: Path | None = None
    #: A run to finish instead: its id under `results_root`, or its directory.
    resume: str | None = None
    results_root: Path = DEFAULT_RESULTS
    #: Compare the finished run with this one ("latest", a run id or a directory) and write the CI files.
    baseline: str | None = None
    #: With `resume`, rerun jobs that failed for a reason of the model too.
    retry_failed: bool = False
    #: Build again the variants whose build failed before.
    rebuild_failed: bool = False
    #: The farm's scheduler address (else $BENCHLAB_CLUSTER; neither: this machine only).
    cluster: str | None = None
    #: What the caller's signal handler sets to stop the run (the repeats in flight finish) or abort it.
    stop: StopControl = field(default_factory=StopControl, compare=False)


@dataclass(frozen=True)
class RunResult:
    """A finished or stopped run, with its report and, when it was gated, what check warns of."""

    outcome: RunOutcome
    #: None when nothing was measured.
    report: RunReport | None
    #: check's warnings about the run, when it was compared with a baseline.
    warnings: tuple[CheckWarning, ...] = ()
    #: The CI files the gate wrote into the run, when it was compared with a baseline.
    gate_files: tuple[Path, ...] = ()
    #: Why the gate could not compare (no run to compare with yet): the caller shows the report, then this.
    gate_error: BenchlabError | None = None


def run_command(request: RunRequest, callbacks: Callbacks = Callbacks()) -> RunResult:
    """Run `request.suite` or finish `request.resume` (on the farm when a cluster is given), gate it
    against `request.baseline` if given, and write the report of what was measured.

    Raises UsageError unless exactly one of suite and resume is given; RunInterrupted when stopped
    before benchmarking began (what was measured is kept, and the exception names the run to resume);
    what benchlab.pipeline.run and resume raise.
    """
    if (request.suite is None) == (request.resume is None):
        raise UsageError("give a SUITE to run, or --resume RUN_ID_OR_DIR to finish an interrupted run")
    check_baseline(request.baseline, request.results_root)  # a typo costs a second, not a whole run
    resumed = None if request.resume is None else _run_dir(request.resume, request.results_root)
    with contextlib.ExitStack() as farm:
        devices = executor = None
        if (address := cluster_address(request.cluster)) is not None:
            if request.suite is not None:  # a bad suite is refused before the farm is connected to
                checked_suite(request.suite, None, request.results_root)
            from benchlab.execute.farm import cluster_session

            devices, executor = farm.enter_context(cluster_session(address))
        try:
            if request.suite is not None:
                outcome = run(request.suite, request.results_root, None, callbacks, devices, request.stop, executor,
                              request.rebuild_failed)
            elif resumed is not None:
                outcome = resume(resumed, request.results_root, None, callbacks, devices, request.retry_failed,
                                 request.stop, executor)
        except KeyboardInterrupt:  # before benchmarking began (after, the pipeline says where it stopped)
            raise RunInterrupted(resumed, "interrupted before benchmarking: nothing was measured or written "
                                          "in this session") from None
    # The report comes first, so a gate that cannot compare (no earlier night yet) leaves it written.
    report = report_run(outcome.record) if outcome.record.measurements else None
    try:
        outcome = gated(outcome, request.baseline, request.results_root)
    except BenchlabError as exc:
        return RunResult(outcome, report, gate_error=exc)
    if outcome.comparison is None:
        return RunResult(outcome, report)
    return RunResult(outcome, report, tuple(check_run(outcome.record)),
                     tuple(RunLayout(outcome.run_dir).gate_files.values()))


def _run_dir(run_id: str, results_root: Path) -> Path:
    """Resolve a run id (under the results root) or a path to a run directory."""
    path = Path(run_id)
    return path if path.is_dir() else run_folder(results_root, run_id)
