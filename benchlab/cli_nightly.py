"""The nightly-regression subcommands, in the order a nightly job uses them: history, compare, check.

`register(subparsers)` adds them to the `benchlab` parser. Each handler takes an argparse
Namespace and returns an exit code, so a test calls it with a plain namespace (as asv's commands
are called); errors are BenchlabError subclasses that `benchlab.cli.main` turns into one line.

    benchlab history [RESULTS_DIR | --results DIR] [--suite NAME] [--changes] [--csv PATH]
    benchlab compare BASELINE CANDIDATE [--results DIR] [--threshold NAME=VALUE ...]
                     [--junit PATH] [--json PATH] [--markdown PATH]
    benchlab check RUN [--results DIR]
    benchlab calibrate SUITE [--runs N] [--results DIR]
    benchlab ab RUN BASELINE CANDIDATE [--results DIR]

BASELINE, CANDIDATE and RUN are run directories or run ids under --results.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.errors import EXIT_OK, UsageError
from benchlab.output_files import write_output
from benchlab.results.store import DEFAULT_RESULTS

if TYPE_CHECKING:
    from benchlab.results.changepoints import SeriesChanges


def _stdout():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(width=max(170, Console().width), highlight=False)


def _stderr():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the history, compare and check subcommands to `benchlab`'s subparsers."""
    history = subparsers.add_parser(
        "history", help="list every run under a results root (the nights so far), or their change points",
        description="List the runs under a results root, oldest first. With --changes, find the runs where "
                    "a series' median latency stepped to a new level (one series per model, variant, device "
                    "and accelerator; PELT on log latency with a penalty scaled by the series' own "
                    "run-to-run noise, method in benchlab/results/changepoints.py). A series is searched "
                    "within one setup (OS build, runner and its version) at a time; a setup change is "
                    "reported as such with its step, never as a change point.")
    history.add_argument("results_dir", nargs="?", type=Path, default=None,
                         help="results root (default: results/; or --results)")
    history.add_argument("--results", type=Path, default=None, help="results root, as for compare and check")
    history.add_argument("--suite", default=None, help="only runs of this suite")
    history.add_argument("--changes", action="store_true",
                         help="report change points per series (run, step size, medians before and after) "
                              "and its setup changes, instead of the list of runs")
    history.add_argument("--csv", type=Path, default=None,
                         help="also write a CSV file: the tidy history (one row per measurement per run), or "
                              "with --changes the change points and setup changes (one row per change, or per "
                              "setup segment without one)")
    history.set_defaults(func=cmd_history)

    compare = subparsers.add_parser(
        "compare", help="compare a candidate run with a baseline run; exit 1 on a regression",
        description="Compare every measurement of CANDIDATE with BASELINE: latency change with a 95% CI "
                    "and a Mann-Whitney test, size, peak memory and accuracy against the thresholds of the "
                    "candidate's suite (regression: section). Exit 1 when anything regressed beyond its "
                    "threshold or newly left the accuracy budget; a variant outside the budget in the baseline "
                    "too is reported (\"outside budget since RUN\"), not gated, unless --absolute-accuracy-gate. "
                    "Rows of one device and accelerator that shift together are reported as the machine's shift, "
                    "and a latency row must also have regressed relative to the others; until a row has a noise "
                    "floor from history or `benchlab calibrate`, a latency change beyond its repeats' noise is "
                    "'regression (provisional)', which does not fail.")
    compare.add_argument("baseline", help="baseline run: a directory, or a run id under --results")
    compare.add_argument("candidate", help="candidate run: a directory, or a run id under --results")
    compare.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where run ids are looked up")
    compare.add_argument("--threshold", type=_threshold, action="append", default=[], metavar="NAME=VALUE",
                         help="override one threshold of the candidate suite's regression section, e.g. "
                              "latency_pct=20 (names: latency_pct, size_pct, memory_pct, accuracy_points, "
                              "alpha, min_repeats); repeatable")
    compare.add_argument("--absolute-accuracy-gate", action="store_true", default=None,
                         help="fail every variant outside the accuracy budget, also one that was outside it in the "
                              "baseline (default: the suite's accuracy.absolute_gate, else only a newly left budget)")
    compare.add_argument("--junit", type=Path, default=None, help="write JUnit XML here")
    compare.add_argument("--json", type=Path, default=None, help="write the JSON summary here")
    compare.add_argument("--markdown", type=Path, default=None, help="write a Markdown summary (PR comment) here")
    compare.set_defaults(func=cmd_compare)

    check = subparsers.add_parser("check", help="warn about measurements of a run that should not be trusted")
    check.add_argument("run", help="a run directory, or a run id under --results")
    check.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where run ids are looked up")
    check.set_defaults(func=cmd_check)

    calibrate = subparsers.add_parser(
        "calibrate", help="run a suite N times to measure each row's run-to-run noise floor",
        description="Run SUITE --runs times back to back; the runs stay in the history, and the noise floor "
                    "of every (model, variant, device, accelerator) is written to noise-floor.json under "
                    "--results, so compare trusts a nightly from its first night.")
    calibrate.add_argument("suite", type=Path, help="suite YAML file")
    calibrate.add_argument("--runs", type=int, default=5, help="how many runs (default 5: 4 run-to-run changes)")
    calibrate.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results root")
    calibrate.set_defaults(func=cmd_calibrate)

    ab = subparsers.add_parser(
        "ab", help="compare two models or variants measured interleaved in one run, round by round",
        description="BASELINE and CANDIDATE are MODEL or MODEL/VARIANT of one run. Each device and accelerator "
                    "both ran on is compared pairwise by interleaved round (Wilcoxon signed-rank on log "
                    "latency). Exit 1 when the candidate is significantly slower beyond the latency threshold.")
    ab.add_argument("run", help="a run directory, or a run id under --results")
    ab.add_argument("baseline", help="MODEL or MODEL/VARIANT")
    ab.add_argument("candidate", help="MODEL or MODEL/VARIANT")
    ab.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where run ids are looked up")
    ab.set_defaults(func=cmd_ab)


def _threshold(text: str) -> tuple[str, float]:
    from benchlab.nightly.thresholds import parse_threshold

    try:
        return parse_threshold(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _history_root(args: argparse.Namespace) -> Path:
    positional, option = getattr(args, "results_dir", None), getattr(args, "results", None)
    if positional is not None and option is not None and Path(positional) != Path(option):
        raise UsageError(f"two results roots given: {positional} and --results {option}",
                         hint="give the results root once")
    return Path(option or positional or DEFAULT_RESULTS)


def cmd_history(args: argparse.Namespace) -> int:
    """List the runs under a results root, oldest first, with how many measurements each holds;
    with ``changes``, print the change points of every series instead (print_changes)."""
    from rich.markup import escape
    from rich.table import Table

    from benchlab.results.history import list_runs, load_history

    root = _history_root(args)
    suite = getattr(args, "suite", None)
    runs = list_runs(root, suite)
    csv = getattr(args, "csv", None)
    if getattr(args, "changes", False):
        from benchlab.results.changepoints import SEARCHED_COLUMNS, changes_frame, find_changes

        results = find_changes(load_history(root, suite, SEARCHED_COLUMNS))
        print_changes(results, f"change points in {root} ({len(runs)} runs)")
        if csv is not None:
            write_output(csv, changes_frame(results).to_csv(index=False))
            _stderr().print(f"change points: {csv} ({len(results)} series)")
        return EXIT_OK
    from benchlab.results.run_summary import run_listing

    table = Table(title=f"runs in {escape(str(root))}")
    for column in ("#", "run id", "suite", "started (UTC)", "finished", "ok / measurements", "devices"):
        table.add_column(column)
    # Each run's counts from its summary (benchlab.results.run_summary), not its table.
    for run in runs:
        summary = run_listing(run.path)
        started = run.started_at.strftime("%Y-%m-%d %H:%M:%S") if run.started_at else "?"
        table.add_row(str(run.order), escape(run.run_id), escape(run.suite_name or "?"), started,
                      "yes" if run.finished else "[yellow]no (interrupted?)[/yellow]",
                      f"{summary.ok} / {summary.measurements}", escape(", ".join(summary.devices)))
    _stdout().print(table)
    if csv is not None:  # the CSV is the whole tidy history
        history = load_history(root, suite)
        write_output(csv, history.to_csv(index=False))
        _stderr().print(f"history: {csv} ({len(history)} rows)")
    return EXIT_OK


def print_changes(results: Sequence[SeriesChanges], title: str) -> None:
    """Print each series setup segment by setup segment: a row for the setup change that began a
    segment (its step shown, not judged), then one row per change point, or one saying why there is
    none (no change, too few runs); a note explains too few runs when a segment had them."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text  # cells as text, not markup to parse: a farm's year is 4,000 rows

    from benchlab.results.changepoints import MIN_RUNS, MIN_SEGMENT_RUNS, Step

    def step_cells(step: Step) -> list[str]:
        return [f"#{step.run_order} {step.run_id}", f"{step.before_ms:.4g} → {step.after_ms:.4g}",
                f"{step.change_pct:+.1f}% ({step.runs_before} runs before, {step.runs_after} after)"]

    table = Table(title=escape(title), caption="runs and noise are per setup (OS build, runner and its version): "
                                               "change points are looked for within one setup only; the step "
                                               "at a setup change is shown, not judged as a change point")
    for column in ("model/variant", "device · accelerator", "runs", "noise", "at run", "median ms", "step",
                   "finding"):
        table.add_column(column, overflow="fold")
    short = False
    for series in results:
        for segment in series.segments:
            ident = [f"{series.model}/{series.variant}", f"{series.device_id} · {series.accelerator}",
                     str(segment.runs), f"±{segment.noise_pct:.1f}%" if segment.noise_pct is not None else ""]
            if segment.setup_change is not None:
                cells = [*ident, *step_cells(segment.setup_change),
                         f"setup changed: {segment.setup_change.what} (step not judged)"]
                table.add_row(*map(Text, cells), style="cyan")
            if not segment.changes:
                short = short or not segment.enough_runs
                table.add_row(*map(Text, ident), "", "", "", Text(segment.status),
                              style=None if segment.enough_runs else "yellow")
            for change in segment.changes:
                cells = [*ident, *step_cells(change), "change point"]
                table.add_row(*map(Text, cells), style="bold red" if change.change_pct > 0 else "green")
    console = _stdout()
    console.print(table)
    if not results:
        console.print("no measured latencies: nothing to look for change points in")
    if short:
        console.print(f"[yellow]too few runs: a setup needs {MIN_RUNS} runs ({MIN_SEGMENT_RUNS} on each side of a "
                      "step) before a change point can be looked for in it; none is reported there, which is "
                      "not the same as no change[/yellow]")


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare CANDIDATE with BASELINE, print the table, write the CI files; return the verdict."""
    from benchlab.nightly.ci_outputs import write_outputs
    from benchlab.pipeline import compare_with_baseline
    from benchlab.results.history import resolve_run

    root = Path(getattr(args, "results", None) or DEFAULT_RESULTS)
    result = compare_with_baseline(resolve_run(args.candidate, root), str(resolve_run(args.baseline, root)), root,
                                   overrides=dict(getattr(args, "threshold", None) or []),
                                   absolute_accuracy_gate=getattr(args, "absolute_accuracy_gate", None))
    from benchlab.views.compare import print_comparison

    print_comparison(result)
    written = write_outputs(result, getattr(args, "junit", None), getattr(args, "json", None),
                            getattr(args, "markdown", None))
    for path in written:
        _stderr().print(f"wrote {path}")
    return result.verdict


def cmd_check(args: argparse.Namespace) -> int:
    """Print the warnings about a run (unstable, few samples, thermal, fallback, coverage), its iteration
    outliers and each row's noise floor; exit 0."""
    from rich.markup import escape

    from benchlab.decide.check import check_run, outlier_summary
    from benchlab.results.history import resolve_run
    from benchlab.results.run_record import RunRecord

    from benchlab.nightly.noise import floors_for_run

    root = Path(getattr(args, "results", None) or DEFAULT_RESULTS)
    run_dir = resolve_run(args.run, root)
    from benchlab.views.check import print_noise_floors, print_warnings

    record = RunRecord.load(run_dir)
    print_warnings(check_run(record), f"check {run_dir.name}")
    _stdout().print(escape(outlier_summary(record)))
    print_noise_floors(floors_for_run(run_dir, root), f"noise floor per row ({run_dir.name}, from earlier runs "
                                                      "and calibration)")
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Run a suite --runs times and write each row's measured noise floor; exit 0 (or the run's failure)."""
    from benchlab.pipeline import calibrate

    if args.runs < 2:
        raise UsageError(f"--runs {args.runs}: at least 2 runs are needed to see a run-to-run change")
    result = calibrate(Path(args.suite), Path(args.results), args.runs, lambda number, outcome: _stderr().print(
        f"calibration run {number}/{args.runs}: {outcome.run_dir} ({outcome.summary()})"))
    if result.floors is None:
        return result.outcomes[-1].exit_code
    from benchlab.views.check import print_noise_floors

    print_noise_floors(result.floors, f"measured noise floor over {args.runs} runs of "
                                      f"{result.outcomes[-1].record.meta.suite_name}")
    _stderr().print(f"noise floors: {result.path}")
    return EXIT_OK


def cmd_ab(args: argparse.Namespace) -> int:
    """Compare two models or variants of one run round by round; exit 1 on a significant slowdown."""
    from rich.markup import escape
    from rich.table import Table

    from benchlab.nightly.ab import ab_compare
    from benchlab.results.history import resolve_run
    from benchlab.results.run_record import RunRecord

    record = RunRecord.load(resolve_run(args.run, Path(getattr(args, "results", None) or DEFAULT_RESULTS)))
    result = ab_compare(record, args.baseline, args.candidate)
    table = Table(title=escape(f"benchlab ab {result.run_id}: {args.baseline} → {args.candidate}"))
    for column in ("device · accelerator", "rounds", "change [95% CI]", "verdict"):
        table.add_column(column)
    for row in result.rows:
        table.add_row(escape(f"{row.device_id} · {row.accelerator}"), str(row.change.rounds),
                      escape(row.change.describe()), escape(row.change.verdict))
    _stdout().print(table)
    return result.verdict
