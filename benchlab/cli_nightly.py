"""The nightly-regression subcommands, in the order a nightly job uses them: history, compare, check.

`register(subparsers)` adds them to the `benchlab` parser. Each handler takes an argparse
Namespace and returns an exit code, so a test calls it with a plain namespace (as asv's commands
are called); errors are BenchlabError subclasses that `benchlab.cli.main` turns into one line.

    benchlab history [RESULTS_DIR | --results DIR] [--suite NAME] [--changes] [--csv PATH]
    benchlab compare BASELINE CANDIDATE [--results DIR] [--threshold NAME=VALUE ...]
                     [--junit PATH] [--json PATH] [--markdown PATH]
    benchlab check RUN [--results DIR]

BASELINE, CANDIDATE and RUN are run directories or run ids under --results. `baseline_gate` is
what ``benchlab run SUITE --baseline latest|RUN_ID|PATH [--fail-on-regression]`` calls after the
run: it compares, prints, and writes compare.junit.xml, compare.json and compare.md into the run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from benchlab.changepoints import SeriesChanges
    from benchlab.check import CheckWarning
    from benchlab.compare import CompareResult

DEFAULT_RESULTS = Path("results")
#: Files baseline_gate writes into the candidate run's directory.
GATE_FILES = {"junit": "compare.junit.xml", "json": "compare.json", "markdown": "compare.md"}


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
                    "run-to-run noise, method in benchlab/changepoints.py).")
    history.add_argument("results_dir", nargs="?", type=Path, default=None,
                         help="results root (default: results/; or --results)")
    history.add_argument("--results", type=Path, default=None, help="results root, as for compare and check")
    history.add_argument("--suite", default=None, help="only runs of this suite")
    history.add_argument("--changes", action="store_true",
                         help="report change points per series (run, step size, medians before and after) "
                              "instead of the list of runs")
    history.add_argument("--csv", type=Path, default=None,
                         help="also write a CSV file: the tidy history (one row per measurement per run), or "
                              "with --changes the change points (one row per change, or per series without one)")
    history.set_defaults(func=cmd_history)

    compare = subparsers.add_parser(
        "compare", help="compare a candidate run with a baseline run; exit 1 on a regression",
        description="Compare every measurement of CANDIDATE with BASELINE: latency change with a 95%% CI "
                    "and a Mann-Whitney test, size, peak memory and accuracy against the thresholds of the "
                    "candidate's suite (regression: section). Exit 1 when anything regressed beyond its "
                    "threshold or broke the accuracy budget.")
    compare.add_argument("baseline", help="baseline run: a directory, or a run id under --results")
    compare.add_argument("candidate", help="candidate run: a directory, or a run id under --results")
    compare.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where run ids are looked up")
    compare.add_argument("--threshold", type=_threshold, action="append", default=[], metavar="NAME=VALUE",
                         help="override one threshold of the candidate suite's regression section, e.g. "
                              "latency_pct=20 (names: latency_pct, size_pct, memory_pct, accuracy_points, "
                              "alpha, min_samples); repeatable")
    compare.add_argument("--junit", type=Path, default=None, help="write JUnit XML here")
    compare.add_argument("--json", type=Path, default=None, help="write the JSON summary here")
    compare.add_argument("--markdown", type=Path, default=None, help="write a Markdown summary (PR comment) here")
    compare.set_defaults(func=cmd_compare)

    check = subparsers.add_parser("check", help="warn about measurements of a run that should not be trusted")
    check.add_argument("run", help="a run directory, or a run id under --results")
    check.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where run ids are looked up")
    check.set_defaults(func=cmd_check)


def _threshold(text: str) -> tuple[str, float]:
    from benchlab.compare import Thresholds

    try:
        return Thresholds.parse_override(text)
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

    from benchlab.history import list_runs, load_history

    root = _history_root(args)
    suite = getattr(args, "suite", None)
    runs = list_runs(root, suite)
    history = load_history(root, suite)
    csv = getattr(args, "csv", None)
    if getattr(args, "changes", False):
        from benchlab.changepoints import changes_frame, find_changes

        results = find_changes(history)
        print_changes(results, f"change points in {root} ({len(runs)} runs)")
        if csv is not None:
            changes_frame(results).to_csv(csv, index=False)
            _stderr().print(f"change points: {csv} ({len(results)} series)")
        return EXIT_OK
    table = Table(title=f"runs in {escape(str(root))}")
    for column in ("#", "run id", "suite", "started (UTC)", "finished", "ok / measurements", "devices"):
        table.add_column(column)
    for run in runs:
        rows = history[history["run_id"] == run.run_id] if not history.empty else history
        ok = int((rows["status"] == "ok").sum()) if not rows.empty else 0
        devices = ", ".join(sorted(rows["device_id"].unique())) if not rows.empty else ""
        started = run.started_at.strftime("%Y-%m-%d %H:%M:%S") if run.started_at else "?"
        table.add_row(str(run.order), escape(run.run_id), escape(run.suite_name or "?"), started,
                      "yes" if run.finished else "[yellow]no (interrupted?)[/yellow]", f"{ok} / {len(rows)}",
                      escape(devices))
    _stdout().print(table)
    if csv is not None:
        history.to_csv(csv, index=False)
        _stderr().print(f"history: {csv} ({len(history)} rows)")
    return EXIT_OK


def print_changes(results: Sequence[SeriesChanges], title: str) -> None:
    """Print one row per change point, and one per series without one saying why (no change, too few runs)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for column in ("model/variant", "device · accelerator", "runs", "noise", "changed at run", "median ms",
                   "step"):
        table.add_column(column, overflow="fold")
    for series in results:
        ident = [f"{series.model}/{series.variant}", f"{series.device_id} · {series.accelerator}", str(series.runs),
                 f"±{series.noise_pct:.1f}%" if series.noise_pct is not None else ""]
        if not series.changes:
            style = None if series.enough_runs else "yellow"
            table.add_row(*(escape(x) for x in ident), "", "", escape(series.status), style=style)
        for change in series.changes:
            cells = [*ident, f"#{change.run_order} {change.run_id}", f"{change.before_ms:.4g} → {change.after_ms:.4g}",
                     f"{change.change_pct:+.1f}% ({change.runs_before} runs before, {change.runs_after} after)"]
            table.add_row(*(escape(x) for x in cells), style="bold red" if change.change_pct > 0 else "green")
    console = _stdout()
    console.print(table)
    if not results:
        console.print("no measured latencies: nothing to look for change points in")


def print_comparison(result: CompareResult) -> None:
    """Print a comparison as a table, then its notes and the verdict line."""
    from rich.markup import escape
    from rich.table import Table

    from benchlab.ci_outputs import format_change

    table = Table(title=escape(f"benchlab compare: {result.baseline_run} → {result.candidate_run}"))
    for column in ("model/variant", "device · accelerator", "median ms", "latency change", "size", "peak mem",
                   "accuracy", "status"):
        table.add_column(column, overflow="fold")
    for c in result.comparisons:
        lat = c.latency
        medians = (f"{lat.baseline:.4g} → {lat.candidate:.4g}" if lat and lat.baseline is not None
                   and lat.candidate is not None else "")
        cells = [f"{c.model}/{c.variant}", f"{c.device_id} · {c.accelerator}", medians,
                 *("" if m is None else format_change(m) for m in (lat, c.size, c.memory, c.accuracy)),
                 c.label + (f"; accuracy gate: {c.accuracy_gate}" if c.accuracy_gate else "")
                 + "".join(f"; {n}" for n in c.notes)]
        style = "bold red" if c.failed else ("green" if c.status == "improved" else None)
        table.add_row(*(escape(x) for x in cells), style=style)
    console = _stdout()
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note: {escape(note)}[/yellow]")
    colour = "red" if result.verdict else "green"
    console.print(f"[{colour}]{escape(result.verdict_text)}[/{colour}]")


def print_warnings(warnings: Sequence[CheckWarning], title: str) -> None:
    """Print check warnings as a table (or say there are none)."""
    from rich.markup import escape
    from rich.table import Table

    console = _stdout()
    if not warnings:
        console.print(f"{escape(title)}: no warnings")
        return
    table = Table(title=escape(f"{title}: {len(warnings)} warning(s)"))
    for column in ("where", "warning", "detail"):
        table.add_column(column, overflow="fold")
    for w in warnings:
        table.add_row(escape(w.where), w.code, escape(w.message), style="yellow")
    console.print(table)


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare CANDIDATE with BASELINE, print the table, write the CI files; return the verdict."""
    from benchlab.ci_outputs import write_outputs
    from benchlab.compare import compare_runs
    from benchlab.history import resolve_run

    root = Path(getattr(args, "results", None) or DEFAULT_RESULTS)
    overrides = dict(getattr(args, "threshold", None) or [])
    result = compare_runs(resolve_run(args.baseline, root), resolve_run(args.candidate, root), overrides=overrides)
    print_comparison(result)
    written = write_outputs(result, getattr(args, "junit", None), getattr(args, "json", None),
                            getattr(args, "markdown", None))
    for path in written:
        _stderr().print(f"wrote {path}")
    return result.verdict


def cmd_check(args: argparse.Namespace) -> int:
    """Print the warnings about a run (unstable, few samples, thermal, fallback, coverage); exit 0."""
    from benchlab.check import check_run
    from benchlab.history import resolve_run

    run_dir = resolve_run(args.run, Path(getattr(args, "results", None) or DEFAULT_RESULTS))
    print_warnings(check_run(run_dir), f"check {run_dir.name}")
    return EXIT_OK


def baseline_gate(run_dir: Path | str, baseline: str, results_root: Path | str) -> int:
    """Compare a finished run with its baseline and return the verdict (0 ok, 1 regression).

    `baseline` is "latest" (the newest earlier finished run of the same suite under
    `results_root`), a run id under `results_root`, or a run directory. Prints the comparison and
    the run's check warnings, and writes compare.junit.xml, compare.json and compare.md into
    `run_dir`. Raises StoreError when the baseline does not exist, is the run itself, or there is
    no earlier run for "latest" (a first night has nothing to compare with, and says so).
    """
    from benchlab.check import check_run
    from benchlab.ci_outputs import write_outputs
    from benchlab.compare import compare_runs
    from benchlab.history import latest_before, resolve_run

    run_dir = Path(run_dir)
    baseline_dir = (latest_before(run_dir, results_root) if baseline == "latest"
                    else resolve_run(baseline, results_root))
    result = compare_runs(baseline_dir, run_dir)
    print_comparison(result)
    print_warnings(check_run(run_dir), f"check {run_dir.name}")
    written = write_outputs(result, run_dir / GATE_FILES["junit"], run_dir / GATE_FILES["json"],
                            run_dir / GATE_FILES["markdown"])
    _stderr().print("comparison: " + ", ".join(str(p) for p in written))
    return result.verdict
