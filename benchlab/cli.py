"""The `benchlab` command. Subcommands in the order a user runs them: devices, optimize, run, report,
then the nightly ones from benchlab.cli_nightly: history, compare, check.

Each command parses its arguments, calls one library function (benchlab.commands, or
benchlab.pipeline for the pipeline's own) and prints what it returns through benchlab.views; only
this module turns errors into a one-line message with a hint and an exit code (0 ok, 1 a
gate failed, 2 bad input, 3 device or harness failure); `--debug` shows the traceback instead.
The library functions are imported inside the commands that call them, so `benchlab --help` and
`benchlab devices` start fast and never load TensorFlow or coremltools.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from benchlab.cli_types import budget_points, positive_int, positive_seconds
from benchlab.errors import EXIT_INTERRUPTED, EXIT_OK, BenchlabError
from benchlab.results.store import DEFAULT_RESULTS

REBUILD_FAILED_HELP = ("build again the variants whose build failed before (by default a failure cached for the "
                       "same model, recipe, options and tool versions is reported as failed without rebuilding)")
WIDE_HELP = ("print every column of the results table, wider than the terminal if need be (by default "
             "columns are left out, and named, until the table fits)")
CLUSTER_HELP = ("run on a device farm: the Dask scheduler whose `benchlab worker`s own the phones "
                "(default: $BENCHLAB_CLUSTER; none: this machine only)")


def cmd_devices(args: argparse.Namespace) -> int:
    """List every device benchlab can reach, with its profile, tier and state."""
    from benchlab.commands.devices import list_devices
    from benchlab.views.devices import print_devices

    listing = list_devices(args.cluster)
    print_devices(listing.devices, listing.cluster, listing.hosts)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    """Serve this host's devices to a Dask scheduler until stopped (one worker per farm host)."""
    from benchlab.commands.devices import serve_devices

    serve_devices(args.scheduler, args.name, args.nthreads, args.rediscover_seconds)
    return EXIT_OK


def cmd_tools_fetch(args: argparse.Namespace) -> int:
    """Download a platform's native runner into benchlab's cache (the only command that downloads)."""
    from benchlab.commands.tools import fetch_tools
    from benchlab.views.console import stderr_console

    fetch_tools(args.platform, args.tool, args.url, args.sha256, say=stderr_console().print)
    return EXIT_OK


def cmd_tools_add(args: argparse.Namespace) -> int:
    """Keep a runner the user built (ExecuTorch's executor_runner for Android) in benchlab's cache."""
    from benchlab.commands.tools import add_tool
    from benchlab.views.console import stderr_console

    add_tool(args.platform, args.tool, args.path, say=stderr_console().print)
    return EXIT_OK


def cmd_optimize(args: argparse.Namespace) -> int:
    """Build (or reuse) every variant of the suite and list them."""
    from benchlab.pipeline import Callbacks, build
    from benchlab.views.console import print_variants, progress, stderr_console, variant_line, variant_summary

    with progress() as bar:
        task = bar.add_task("optimize", total=None)

        def on_variant(variant) -> None:  # type: ignore[no-untyped-def]
            bar.console.print(variant_line(variant))
            bar.advance(task)

        callbacks = Callbacks(say=bar.console.print, on_build_planned=lambda n: bar.update(task, total=n),
                              on_variant=on_variant)
        variants = build(args.suite, callbacks, args.rebuild_failed)
    print_variants(variants)
    stderr_console().print(variant_summary(variants))
    return EXIT_OK


class _StopOnSignal:
    """SIGINT/SIGTERM during `run`: the first stops dispatching (the repeat in flight finishes, the
    report of what finished is written), the second aborts at once. Before benchmarking starts
    nothing is measured yet, so the first signal ends the command at once."""

    def __init__(self, stop) -> None:  # type: ignore[no-untyped-def]
        self.stop = stop
        self.received = 0

    def __enter__(self) -> _StopOnSignal:
        import signal

        self.previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def handle(self, signum: int, frame: object) -> None:
        self.received += 1
        if self.received == 1 and self.stop.executing.is_set():
            self.stop.stop_dispatch.set()
            print("benchlab: stopping after the repeats in flight (signal again to abort at once)", file=sys.stderr)
            return
        self.stop.abort.set()
        raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    """Optimize, benchmark on the suite's targets, store, print the table and write the report."""
    from benchlab.commands.run import RunRequest, run_command
    from benchlab.pipeline import Callbacks, RunInterrupted
    from benchlab.views.compare import print_gate
    from benchlab.views.console import (
        measurement_line,
        print_sustained,
        progress,
        resume_command,
        stderr_console,
        variant_line,
        variant_summary,
    )
    from benchlab.views.report import print_table
    from benchlab.views.ship import print_ship

    request = RunRequest(suite=args.suite, resume=args.resume, results_root=args.results,
                         baseline=args.baseline or ("latest" if args.fail_on_regression else None),
                         retry_failed=args.retry_failed, rebuild_failed=args.rebuild_failed, cluster=args.cluster)
    with progress() as bar, _StopOnSignal(request.stop):
        variants_task = bar.add_task("optimize", total=0)
        jobs_task = bar.add_task("benchmark (repeats)", total=None)

        def on_variant(variant) -> None:  # type: ignore[no-untyped-def]
            bar.console.print(variant_line(variant))
            bar.advance(variants_task)

        def on_measurement(m) -> None:  # type: ignore[no-untyped-def]
            bar.advance(jobs_task)
            if (line := measurement_line(m)) is not None:
                bar.console.print(line, highlight=False, markup=False)

        callbacks = Callbacks(say=bar.console.print, on_build_planned=lambda n: bar.update(variants_task, total=n),
                              on_variant=on_variant, on_planned=lambda n: bar.update(jobs_task, total=n),
                              on_measurement=on_measurement)
        try:
            result = run_command(request, callbacks)
        except RunInterrupted as exc:
            if exc.run_dir is not None:
                exc.hint = f"finish it with `{resume_command(exc.run_dir, args.results)}`"
            raise
    outcome, console = result.outcome, stderr_console()
    if result.report is not None:
        print_table(result.report.table, wide=args.wide)
        print_ship(result.report.ship)
        files = result.report.files
        console.print(f"results: {outcome.run_dir}\nreport:  {files.html}\n"
                      f"plots:   {files.tradeoff_plot}, {files.latency_plot}")
        print_sustained(files)
    console.print(variant_summary(outcome.record.variants))
    console.print(outcome.summary(), highlight=False)
    if outcome.interrupted:
        # Plain print: a wrapped command line could not be pasted back.
        print(f"benchlab: interrupted: finish the run with `{resume_command(outcome.run_dir, args.results)}`",
              file=sys.stderr)
        return outcome.exit_code
    if result.gate_error is not None:  # the run and its report are kept; only the comparison is missing
        raise result.gate_error
    if outcome.comparison is None:
        if outcome.exit_code != EXIT_OK:
            console.print("[red]no job measured anything: see the reasons above[/red]")
        return outcome.exit_code
    print_gate(outcome.comparison, result.warnings, result.gate_files, outcome.run_dir.name)
    return outcome.comparison.verdict if args.fail_on_regression else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild the table, plots and HTML report of a finished run from its store alone."""
    from benchlab.commands.report import report_run
    from benchlab.views.console import print_sustained, stderr_console
    from benchlab.views.report import print_table
    from benchlab.views.ship import print_ship

    report = report_run(args.run_dir, args.budget)
    print_table(report.table, wide=args.wide)
    print_ship(report.ship)
    print_sustained(report.files)
    stderr_console().print(f"report: {report.files.html}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="benchlab",
        description="Benchmark optimized models (LiteRT, Core ML) for latency, size and accuracy, "
                    "on this machine's CPU and on attached phones.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    devices = sub.add_parser("devices", help="list this machine and attached phones")
    devices.add_argument("--cluster", metavar="tcp://HOST:8786", help=CLUSTER_HELP)
    devices.set_defaults(func=cmd_devices)

    worker = sub.add_parser("worker", help="serve this host's phones to a Dask scheduler (one per farm host)")
    worker.add_argument("--scheduler", required=True, metavar="tcp://HOST:8786", help="the lab's Dask scheduler")
    worker.add_argument("--name", default=None, help="this host's name in the farm (default: the host name)")
    worker.add_argument("--nthreads", type=positive_int, default=32,
                        help="most devices measuring at once here (default 32)")
    worker.add_argument("--rediscover-seconds", type=positive_seconds, default=10.0,
                        help="while idle, look for phones plugged in or pulled this often (default 10)")
    worker.set_defaults(func=cmd_worker)

    tools = sub.add_parser("tools", help="fetch native runners (benchmark_model for Android) or add one you built")
    tools_sub = tools.add_subparsers(dest="tools_command", required=True, metavar="ACTION")
    fetch = tools_sub.add_parser("fetch", help="download a platform's runner into benchlab's cache")
    fetch.add_argument("platform", help="a runner platform that has tools to fetch (e.g. android)")
    fetch.add_argument("tool", nargs="?", help="one tool with no hash benchlab can pin (android: litert_lm_main), "
                                                "with --url and --sha256")
    fetch.add_argument("--url", help="where to download the tool from")
    fetch.add_argument("--sha256", help="the sha256 you expect of the download; anything else is not kept")
    fetch.set_defaults(func=cmd_tools_fetch)
    add = tools_sub.add_parser("add", help="keep a runner you built or downloaded in benchlab's cache (android "
                                           "executor_runner, llama_main, litert_lm_main)")
    add.add_argument("platform", help="the runner platform (e.g. android)")
    add.add_argument("tool", help="the runner (android: executor_runner, llama_main, litert_lm_main; see the README)")
    add.add_argument("path", type=Path, help="the binary you built")
    add.set_defaults(func=cmd_tools_add)

    optimize = sub.add_parser("optimize", help="build the suite's variants (cached by content hash)")
    optimize.add_argument("suite", type=Path, help="suite YAML file")
    optimize.add_argument("--rebuild-failed", action="store_true", help=REBUILD_FAILED_HELP)
    optimize.set_defaults(func=cmd_optimize)

    run = sub.add_parser("run", help="optimize, benchmark, store results and write the report")
    run.add_argument("suite", type=Path, nargs="?", help="suite YAML file")
    run.add_argument("--resume", metavar="RUN", help="finish an interrupted run (run id or directory): repeats "
                                                     "not stored, or that failed for a device or harness reason, run again")
    run.add_argument("--retry-failed", action="store_true",
                     help="with --resume, also rerun jobs that failed for a reason of the model (custom op, delegate)")
    run.add_argument("--rebuild-failed", action="store_true", help=REBUILD_FAILED_HELP)
    run.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results root (default: results/)")
    run.add_argument("--baseline", default=None, metavar="latest|RUN_ID|PATH",
                     help="after the run, compare it with this run (latest: the newest earlier finished run of "
                          "the suite) and write compare.junit.xml, compare.json, compare.md into the run")
    run.add_argument("--fail-on-regression", action="store_true",
                     help="exit 1 when the comparison with --baseline (default: latest) finds a regression, "
                          "a new failure or a variant beyond the accuracy budget")
    run.add_argument("--cluster", metavar="tcp://HOST:8786", help=CLUSTER_HELP)
    run.add_argument("--wide", action="store_true", help=WIDE_HELP)
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="rebuild table, plots and HTML report of a run")
    report.add_argument("run_dir", type=Path, help="a results/<run_id> directory")
    report.add_argument("--budget", type=budget_points, default=None,
                        help="accuracy budget in points (default: the suite's)")
    report.add_argument("--wide", action="store_true", help=WIDE_HELP)
    report.set_defaults(func=cmd_report)

    from benchlab.cli_nightly import register as register_nightly

    register_nightly(sub)  # history, compare, check
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args))
    except BenchlabError as exc:
        if args.debug:
            raise
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        print(f"benchlab: error: {exc}{hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        # Outside a run's measuring (`run` says itself what a stop left): nothing to resume.
        print("benchlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
