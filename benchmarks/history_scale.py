"""A year of nights for 1,200 rows: how long `history`, `history --changes`, `compare` and the trend plots take.

Each command runs in a child process of its own, as a user runs it (Python's start and benchlab's
imports included), on a results root written by benchmarks/make_history.py (365 nights x 1,200
rows x 3 repeats: 20 variants x 3 accelerators x 20 phones). For each it reports the wall time, the
child's CPU time (user + system) and its peak memory (maximum resident set size, from wait4), beside
the target:

    history (the list of runs)         <= 5 s    < 2 GB
    history --changes                  <= 60 s   < 2 GB
    compare LAST-BUT-ONE LAST          <= 10 s   < 2 GB   (noise floors from the whole history)
    trend plots of the last night      (no target; what `benchlab report` adds)

A command still running after --limit seconds is stopped and reported as "> LIMIT s" (what it would
have taken is not guessed). The machine's load average is printed with the figures: this project's
VM has 2 cores shared with other work, and a figure taken under load is slower than a quiet one.

Run: `.venv/bin/python benchmarks/history_scale.py [ROOT] [--limit 900] [--out figures.json]`;
without ROOT it generates the year first (about 15 minutes on 2 free cores) into a temporary folder.
`--smoke`: 4 nights of 1 phone, each command once, as tests/test_benchmarks.py runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.make_history import Shape, write_history  # noqa: E402

#: (label, target seconds or None, the command's Python code, run with ROOT, BASE and CAND set).
COMMANDS = (
    ("history", 5.0, "main(['history', ROOT])"),
    ("history --changes", 60.0, "main(['history', ROOT, '--changes'])"),
    ("compare (history floors)", 10.0, "main(['compare', BASE, CAND, '--results', ROOT])"),
    ("trend plots", None, "print(trend_plots_for_run(CAND_DIR, ROOT))"),
)
PRELUDE = ("import sys; from benchlab.cli import main; from benchlab.views.trends import trend_plots_for_run; "
           "ROOT, BASE, CAND = sys.argv[1:4]; CAND_DIR = ROOT + '/' + CAND\n")
MEMORY_TARGET_MB = 2048.0


def measure(code: str, root: Path, base: str, cand: str, limit: float) -> dict:
    """Run one command in a child process; return its wall and CPU seconds (user + system: on a shared
    machine the wall time holds the other jobs' share too), peak RSS (MB), exit code, stopped."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", PRELUDE + code, str(root), base, cand], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"})
    stopped = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > limit and not stopped:
            child.send_signal(signal.SIGKILL)
            stopped = True
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    error = child.stderr.read() if child.stderr else ""
    code_ = os.waitstatus_to_exitcode(status)
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024.0,
            "exit": code_, "stopped": stopped, "stderr": error[-2000:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=None, help="a results root from make_history.py")
    parser.add_argument("--limit", type=float, default=900.0, help="stop a command after this many seconds")
    parser.add_argument("--only", action="append", default=None, help="only the commands with this label")
    parser.add_argument("--out", type=Path, default=None, help="write the figures here (JSON)")
    parser.add_argument("--smoke", action="store_true", help="4 nights of 1 phone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="benchlab-history-") as tmp:
        root = args.root
        if root is None:
            shape = Shape(nights=4 if args.smoke else 365, phones=1 if args.smoke else 20, repeats=3,
                          iterations=10, seed=2026)
            root = Path(tmp) / "results"
            print(f"generating {shape.nights} nights x {shape.rows} rows into {root}")
            write_history(root, shape, workers=1 if args.smoke else 2)
        runs = sorted(p.name for p in root.iterdir() if (p / "run.json").is_file())
        base, cand = runs[-2], runs[-1]
        print(f"{root}: {len(runs)} runs; compare {base} -> {cand}")
        figures = {}
        for label, target, code in COMMANDS:
            if args.only and label not in args.only:
                continue
            figures[label] = {**measure(code, root, base, cand, args.limit), "target_s": target}
            result = figures[label]
            # compare's verdict 1 is a result; a traceback or benchlab's error line is not
            failed = result["exit"] not in (0, 1) or "Traceback" in result["stderr"] or "error:" in result["stderr"]
            if failed and not result["stopped"]:
                raise SystemExit(f"{label} failed ({result['exit']}): {result['stderr']}")
    load = os.getloadavg()
    print(f"load average while measuring: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on {os.cpu_count()} cores")
    print(f"{'command':<26} {'wall s':>9} {'cpu s':>9} {'target s':>9} {'peak MB':>9} {'target MB':>10}")
    for label, result in figures.items():
        wall = f"> {args.limit:.0f}" if result["stopped"] else f"{result['seconds']:.1f}"
        target = f"{result['target_s']:.0f}" if result["target_s"] else "-"
        print(f"{label:<26} {wall:>9} {result['cpu_seconds']:>9.1f} {target:>9} {result['peak_mb']:>9.0f} "
              f"{MEMORY_TARGET_MB:>10.0f}")
    if args.out:
        args.out.write_text(json.dumps({"root": str(root), "runs": len(runs), "load": load, "figures": figures},
                                       indent=2))


if __name__ == "__main__":
    main()
