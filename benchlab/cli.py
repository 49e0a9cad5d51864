"""The `benchlab` command. Subcommands in the order a user runs them: devices, optimize, run, report,
then the nightly ones from benchlab.cli_nightly: history, compare, check.

Only this module turns errors into a one-line message with a hint and an exit code (0 ok, 1 a
gate failed, 2 bad input, 3 device or harness failure); `--debug` shows the traceback instead.
Heavy libraries are imported inside the commands that need them, so `benchlab --help` and
`benchlab devices` start fast and never load TensorFlow or coremltools.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.cli_types import budget_points, positive_int, positive_seconds
from benchlab.errors import EXIT_INTERRUPTED, EXIT_OK, BenchlabError, UsageError
from benchlab.results.store import DEFAULT_RESULTS

if TYPE_CHECKING:
    from benchlab.views.report import ReportFiles

#: Runner packages register `benchlab tools fetch PLATFORM` here, so this module imports none of them.
TOOLS_ENTRY_POINT_GROUP = "benchlab.tools"
REBUILD_FAILED_HELP = ("build again the variants whose build failed before (by default a failure cached for the "
                       "same model, recipe, options and tool versions is reported as failed without rebuilding)")
WIDE_HELP = ("print every column of the results table, wider than the terminal if need be (by default "
             "columns are left out, and named, until the table fits)")
CLUSTER_HELP = ("run on a device farm: the Dask scheduler whose `benchlab worker`s own the phones "
                "(default: $BENCHLAB_CLUSTER; none: this machine only)")


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=True)


def cmd_devices(args: argparse.Namespace) -> int:
    """List every device benchlab can reach, with its profile, tier and state."""
    from rich.console import Console
    from rich.table import Table

    from benchlab.execute.devices import discover_devices

    address = _cluster_address(args)
    table = Table(title="devices" if address is None else f"devices on {address}")
    for column in ("id", "platform", "maker", "model", "soc", "os", "abi", "tier", "profile", "transport", "state"):
        table.add_column(column)
    if address is not None:
        table.add_column("host")
        from benchlab.execute.farm import cluster_session

        with cluster_session(address) as (devices, _executor):
            _add_device_rows(table, devices, hosts=True)
    else:
        _add_device_rows(table, discover_devices())
    Console(width=max(160, Console().width)).print(table)
    return EXIT_OK


def _add_device_rows(table, devices, hosts: bool = False) -> None:  # type: ignore[no-untyped-def]
    for device in devices:
        i = device.info
        table.add_row(i.id, i.platform, i.maker or "", i.model or "", i.soc or "", i.os_version or "",
                      i.abi or "", i.tier or "", i.profile or "", i.transport or "", i.state,
                      *([device.worker_name] if hosts else []))


def _cluster_address(args: argparse.Namespace) -> str | None:
    from benchlab.execute.farm_worker import cluster_address

    return cluster_address(args.cluster)


def cmd_worker(args: argparse.Namespace) -> int:
    """Serve this host's devices to a Dask scheduler until stopped (one worker per farm host)."""
    from benchlab.execute.farm_worker import serve_worker

    serve_worker(args.scheduler, name=args.name, nthreads=args.nthreads, rediscover_seconds=args.rediscover_seconds)
    return EXIT_OK


def cmd_tools_fetch(args: argparse.Namespace) -> int:
    """Download a platform's native runner into benchlab's cache (the only command that downloads)."""
    from importlib.metadata import entry_points

    from benchlab.errors import SuiteError

    fetchers = {e.name: e for e in entry_points(group=TOOLS_ENTRY_POINT_GROUP)}
    if args.platform not in fetchers:
        raise SuiteError(f"no runner tools for {args.platform!r} (allowed: {', '.join(sorted(fetchers)) or 'none'})")
    say = lambda msg: _console().print(msg)  # noqa: E731
    if args.tool is None:
        if args.url or args.sha256:
            raise SuiteError("--url and --sha256 name one tool: `benchlab tools fetch PLATFORM TOOL --url URL --sha256 HEX`")
        fetchers[args.platform].load()(say=say)
        return EXIT_OK
    # A tool with no hash benchlab can pin is fetched only against the one the user expects.
    if not (args.url and args.sha256):
        raise SuiteError(f"fetching {args.tool} needs --url and the --sha256 you expect of it (no published "
                         "hash can be pinned)")
    import importlib

    fetch_tool = getattr(importlib.import_module(fetchers[args.platform].module), "fetch_tool", None)
    if fetch_tool is None:
        raise SuiteError(f"no runner tools to fetch by url for {args.platform!r}")
    fetch_tool(args.tool, args.url, args.sha256, say=say)
    return EXIT_OK


def cmd_tools_add(args: argparse.Namespace) -> int:
    """Keep a runner the user built (ExecuTorch's executor_runner for Android) in benchlab's cache."""
    import importlib
    from importlib.metadata import entry_points

    from benchlab.errors import SuiteError

    platforms = {e.name: e for e in entry_points(group=TOOLS_ENTRY_POINT_GROUP)}
    # A platform's tools module (the one its `fetch` entry point lives in) may also take runners users build.
    adder = getattr(importlib.import_module(platforms[args.platform].module), "add", None) \
        if args.platform in platforms else None
    if adder is None:
        raise SuiteError(f"no runner tools to add for {args.platform!r} (allowed: "
                         f"{', '.join(sorted(platforms)) or 'none'})")
    adder(args.tool, args.path, say=lambda msg: _console().print(msg))
    return EXIT_OK


def _progress():  # type: ignore[no-untyped-def]
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=_console(), transient=True)


def _variant_line(variant) -> str:  # type: ignore[no-untyped-def]
    notes = f" · {variant.notes}" if variant.notes else ""
    if variant.status == "failed":
        return f"[red]✗ {variant.model}/{variant.name}: {variant.error}[/red]{notes}"
    reused = list(dict.fromkeys(step["step"] for step in variant.lineage if step["cached"]))
    if variant.status == "cached":
        verb = "reused from cache"
    elif reused:  # e.g. a chain whose training another variant already did: only the rest was built now
        seconds = sum(step["seconds"] for step in variant.lineage if not step["cached"])
        verb = f"built in {seconds:.1f} s ({', '.join(reused)} from the cache)"
    else:
        verb = f"built in {variant.build_seconds:.1f} s"
    return f"✓ {variant.model}/{variant.name} ({variant.format}, {variant.size_bytes / 1024:,.1f} KB) {verb}{notes}"


def _variant_summary(variants) -> str:  # type: ignore[no-untyped-def]
    counts = {s: sum(v.status == s for v in variants) for s in ("built", "cached", "failed")}
    return (f"variants: {counts['built']} built, {counts['cached']} reused from cache (unchanged content hash), "
            f"{counts['failed']} failed")


def cmd_optimize(args: argparse.Namespace) -> int:
    """Build (or reuse) every variant of the suite and list them."""
    from benchlab.plan.datasets import load_model_datasets
    from benchlab.optimize.build import build_variants
    from benchlab.optimize.recipes import RECIPES
    from benchlab.plan.suite import load_suite

    suite = load_suite(args.suite, RECIPES)
    datasets = load_model_datasets(suite)
    with _progress() as progress:
        task = progress.add_task("optimize", total=sum(len(suite.variants_for(m, RECIPES)) for m in suite.models))

        def on_variant(variant) -> None:  # type: ignore[no-untyped-def]
            progress.console.print(_variant_line(variant))
            progress.advance(task)

        variants = build_variants(suite, datasets, progress.console.print, on_variant, args.rebuild_failed)
    _print_variants(variants)
    _console().print(_variant_summary(variants))
    return EXIT_OK


def _print_variants(variants) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    table = Table(title="variants")
    for column in ("model", "variant", "recipe", "format", "status", "size KB", "zipped KB", "sha256", "error", "notes"):
        table.add_column(column, overflow="fold")
    for v in variants:
        size = f"{v.size_bytes / 1024:,.1f}" if v.size_bytes is not None else ""
        zipped = f"{v.size_compressed_bytes / 1024:,.1f}" if v.size_compressed_bytes is not None else ""
        table.add_row(v.model, v.name, v.recipe, v.format, v.status, size, zipped, (v.sha256 or "")[:12], v.error or "",
                      v.notes or "")
    Console(width=160).print(table)


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


def _resume_command(run_dir: Path, results: Path) -> str:
    """Return the command that finishes `run_dir`, as it can be pasted: by id under the results root
    it was found in, else by its path (a run given as a path elsewhere)."""
    import shlex

    from benchlab.results.layout import RunLayout

    if RunLayout(run_dir).results_root.resolve() != results.resolve():
        return f"benchlab run --resume {shlex.quote(str(run_dir))}"
    flag = "" if results == DEFAULT_RESULTS else f" --results {shlex.quote(str(results))}"
    return f"benchlab run --resume {shlex.quote(run_dir.name)}{flag}"


def cmd_run(args: argparse.Namespace) -> int:
    """Optimize, benchmark on the suite's targets, store, print the table and write the report."""
    from benchlab.execute.executor import StopControl
    from benchlab.pipeline import Callbacks, RunInterrupted, check_baseline, resume_run, run_suite
    from benchlab.views.report import build_report, print_table
    from benchlab.decide.ship import ship_plan
    from benchlab.views.ship import print_ship
    from benchlab.optimize.recipes import RECIPES
    from benchlab.plan.suite import load_suite

    if (args.suite is None) == (args.resume is None):
        raise UsageError("give a SUITE to run, or --resume RUN_ID_OR_DIR to finish an interrupted run")
    check_baseline(args.baseline, args.results)
    suite = load_suite(args.suite, RECIPES) if args.suite is not None else None
    stop = StopControl()
    farm = contextlib.ExitStack()
    devices = executor = None
    if (address := _cluster_address(args)) is not None:
        from benchlab.execute.farm import cluster_session

        devices, executor = farm.enter_context(cluster_session(address))
    with farm, _progress() as progress, _StopOnSignal(stop):
        variants_task = progress.add_task("optimize", total=sum(len(suite.variants_for(m, RECIPES))
                                                                for m in suite.models) if suite else 0)
        jobs_task = progress.add_task("benchmark (repeats)", total=None)

        def on_variant(variant) -> None:  # type: ignore[no-untyped-def]
            progress.console.print(_variant_line(variant))
            progress.advance(variants_task)

        def on_measurement(m) -> None:  # type: ignore[no-untyped-def]
            progress.advance(jobs_task)
            if m.status == "unsupported":
                return  # the same refusal for every such job: said once, whole, under the table
            if "decode_tps" in m.metric_values:  # a language model's cell: its rates, not iterations
                measured = (f"decode {m.metric_values['decode_tps']:.1f} tok/s, "
                            f"prefill {m.metric_values['prefill_tps']:.1f} tok/s")
            else:
                measured = (f"{len(m.all_samples_us)} iterations" if m.all_samples_us
                            else f"{len(m.runner_stats)} runner run(s)")
            detail = f"{m.status}: {m.error}" if m.status != "ok" else measured
            progress.console.print(f"  {m.variant.model}/{m.variant.name} on {m.device.id} · {m.accelerator.name} "
                                   f"repeat {m.repeat + 1}: {detail}", highlight=False, markup=False)

        callbacks = Callbacks(say=progress.console.print, on_variant=on_variant,
                              on_planned=lambda n: progress.update(jobs_task, total=n), on_measurement=on_measurement)
        resumed = _run_dir(args.resume, args.results) if suite is None else None
        try:
            try:
                if resumed is not None:
                    outcome = resume_run(resumed, callbacks, retry_failed=args.retry_failed, stop=stop,
                                         devices=devices, executor=executor)
                else:
                    outcome = run_suite(suite, Path(args.suite), args.results, callbacks, stop=stop, devices=devices,
                                        executor=executor, rebuild_failed=args.rebuild_failed)
            except KeyboardInterrupt:  # before benchmarking began (after, the pipeline says where it stopped)
                raise RunInterrupted(resumed, "interrupted before benchmarking: nothing was measured or written "
                                              "in this session") from None
        except RunInterrupted as exc:
            if exc.run_dir is not None:
                exc.hint = f"finish it with `{_resume_command(exc.run_dir, args.results)}`"
            raise
    console = _console()
    if outcome.record.measurements:
        files, table = build_report(outcome.record)
        print_table(table, wide=args.wide)
        print_ship(ship_plan(outcome.record, table))
        console.print(f"results: {outcome.run_dir}\nreport:  {files.html}\n"
                      f"plots:   {files.tradeoff_plot}, {files.latency_plot}")
        _print_sustained(files)
    console.print(_variant_summary(outcome.record.variants))
    console.print(outcome.summary(), highlight=False)
    if outcome.interrupted:
        # Plain print: a wrapped command line could not be pasted back.
        print(f"benchlab: interrupted: finish the run with `{_resume_command(outcome.run_dir, args.results)}`",
              file=sys.stderr)
        return outcome.exit_code
    if outcome.exit_code != EXIT_OK:
        console.print("[red]no job measured anything: see the reasons above[/red]")
        return outcome.exit_code
    if args.baseline is not None or args.fail_on_regression:
        from benchlab.cli_nightly import print_gate
        from benchlab.pipeline import gate

        comparison = gate(outcome.run_dir, args.baseline or "latest", args.results)
        print_gate(comparison, outcome.run_dir)
        if args.fail_on_regression:
            return comparison.verdict
    return EXIT_OK


def _print_sustained(files: ReportFiles) -> None:
    """Say each sustained session's kept throughput and first drop, and where the curve is."""
    for line in files.sustained_lines:
        print(f"sustained: {line}")
    if files.sustained_plot is not None:
        print(f"curve:   {files.sustained_plot}")


def _run_dir(run: str, results: Path) -> Path:
    """Resolve a run id (under the results root) or a path to a run directory."""
    from benchlab.results.layout import run_folder

    path = Path(run)
    return path if path.is_dir() else run_folder(results, run)


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild the table, plots and HTML report of a finished run from its store alone."""
    from benchlab.results.run_record import RunRecord
    from benchlab.views.report import build_report, print_table
    from benchlab.decide.ship import ship_plan
    from benchlab.views.ship import print_ship

    record = RunRecord.load(args.run_dir)
    files, table = build_report(record, args.budget)
    print_table(table, wide=args.wide)
    print_ship(ship_plan(record, table))
    _print_sustained(files)
    _console().print(f"report: {files.html}")
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
