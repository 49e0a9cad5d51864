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

BASELINE, CANDIDATE and RUN are run directories or run ids under --results. Each handler calls one
library function (benchlab.commands.history, compare, check, ab; benchlab.pipeline.calibrate) and
prints what it returns through benchlab.views.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchlab.cli_types import threshold
from benchlab.errors import EXIT_OK, UsageError
from benchlab.results.store import DEFAULT_RESULTS


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
    compare.add_argument("--threshold", type=threshold, action="append", default=[], metavar="NAME=VALUE",
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


def _history_root(args: argparse.Namespace) -> Path:
    positional, option = getattr(args, "results_dir", None), getattr(args, "results", None)
    if positional is not None and option is not None and Path(positional) != Path(option):
        raise UsageError(f"two results roots given: {positional} and --results {option}",
                         hint="give the results root once")
    return Path(option or positional or DEFAULT_RESULTS)


def cmd_history(args: argparse.Namespace) -> int:
    """List the runs under a results root, oldest first, with how many measurements each holds;
    with ``changes``, print the change points of every series instead."""
    from benchlab.commands.history import history
    from benchlab.views.console import stderr_console
    from benchlab.views.history import print_changes, print_runs

    csv = getattr(args, "csv", None)
    found = history(_history_root(args), getattr(args, "suite", None), getattr(args, "changes", False), csv)
    if found.changes is not None:
        print_changes(found.changes, f"change points in {found.root} ({found.run_count} runs)")
        if csv is not None:
            stderr_console(highlight=False).print(f"change points: {csv} ({found.csv_rows} series)")
        return EXIT_OK
    print_runs(found.root, found.runs)
    if csv is not None:
        stderr_console(highlight=False).print(f"history: {csv} ({found.csv_rows} rows)")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare CANDIDATE with BASELINE, print the table, write the CI files; return the verdict."""
    from benchlab.commands.compare import compare
    from benchlab.views.compare import print_comparison
    from benchlab.views.console import stderr_console

    compared = compare(args.baseline, args.candidate, Path(getattr(args, "results", None) or DEFAULT_RESULTS),
                       dict(getattr(args, "threshold", None) or []), getattr(args, "absolute_accuracy_gate", None),
                       getattr(args, "junit", None), getattr(args, "json", None), getattr(args, "markdown", None))
    print_comparison(compared.result)
    for path in compared.written:
        stderr_console(highlight=False).print(f"wrote {path}")
    return compared.result.verdict


def cmd_check(args: argparse.Namespace) -> int:
    """Print the warnings about a run (unstable, few samples, thermal, fallback, coverage), its iteration
    outliers and each row's noise floor; exit 0."""
    from benchlab.commands.check import check
    from benchlab.views.check import print_check

    report = check(args.run, Path(getattr(args, "results", None) or DEFAULT_RESULTS))
    print_check(report.run_dir.name, report.warnings, report.outliers, report.floors)
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Run a suite --runs times and write each row's measured noise floor; exit 0 (or the run's failure)."""
    from benchlab.pipeline import calibrate
    from benchlab.views.check import print_noise_floors
    from benchlab.views.console import stderr_console

    if args.runs < 2:
        raise UsageError(f"--runs {args.runs}: at least 2 runs are needed to see a run-to-run change")
    say = stderr_console(highlight=False).print
    result = calibrate(Path(args.suite), Path(args.results), args.runs, lambda number, outcome: say(
        f"calibration run {number}/{args.runs}: {outcome.run_dir} ({outcome.summary()})"))
    if result.floors is None:
        return result.outcomes[-1].exit_code
    print_noise_floors(result.floors, f"measured noise floor over {args.runs} runs of "
                                      f"{result.outcomes[-1].record.meta.suite_name}")
    say(f"noise floors: {result.path}")
    return EXIT_OK


def cmd_ab(args: argparse.Namespace) -> int:
    """Compare two models or variants of one run round by round; exit 1 on a significant slowdown."""
    from benchlab.commands.ab import ab
    from benchlab.views.ab import print_ab

    result = ab(args.run, Path(getattr(args, "results", None) or DEFAULT_RESULTS), args.baseline, args.candidate)
    print_ab(result, args.baseline, args.candidate)
    return result.verdict
