"""Every run under a results root, in the order the runs started, as one tidy table.

A nightly job leaves one directory per night under its results root (``results/<run_id>/``).
`load_history` reads them all into the same tidy table `benchlab.results.run_record.load_results` gives for one
run (one row per measurement, statistics computed from the raw samples), plus when each run
started and its position in the history, so a night can be plotted against the nights before it
and compared with a baseline. `resolve_run` and `latest_before` turn what a user types (a path, a
run id, ``latest``) into a run directory.

Runs are ordered by the start time in their run.json (run ids sort the same way, and break ties).
A run that never finished (no ``finished_at``: the job crashed or was interrupted and not resumed)
is kept in the history, because its measurements are real, but is never chosen as a baseline.

Runs are never merged silently across setups: every row keeps the device's OS build and the
runner and its version (SETUP_COLUMNS), and `setup_change` says, on the first row of a series
after one of them changed, what changed ("os_version 14/UQ1A → 15/AP3A"). Trend plots split a
series there (benchlab.views.trends), and change points are looked for within one setup only, the
setup change itself reported as such (benchlab.results.changepoints).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlab.errors import StoreError
from benchlab.results.run_record import results_of_runs
from benchlab.results.layout import is_run_folder, run_folder
from benchlab.results.store import read_run_meta, run_directories

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas as pd

    from benchlab.results.run_meta import RunMeta

#: What makes one series: its latencies across runs are comparable with each other (on one setup).
SERIES = ("model", "variant", "device_id", "accelerator")
#: Columns load_history adds to load_results' columns.
HISTORY_COLUMNS = ("run_order", "run_started_at", "run_finished_at", "suite_name", "harness_version", "setup_change")
#: What a measurement ran on besides the variant: latencies (and a delegate's accuracy) measured
#: under two different values are not comparable, so a change of any of them is marked.
SETUP_COLUMNS = ("os_version", "runner", "runner_version")
#: How many known run ids an "unknown run" error lists.
LISTED_RUNS = 8


@dataclass(frozen=True)
class RunInfo:
    """One run of a results root, as its run.json describes it."""

    run_id: str
    path: Path
    suite_name: str | None
    started_at: datetime | None
    finished_at: datetime | None
    harness_version: str | None
    order: int

    @property
    def finished(self) -> bool:
        """Whether the run completed (an interrupted run has no finish time)."""
        return self.finished_at is not None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _sort_key(meta: RunMeta, path: Path) -> tuple[str, str]:
    started = _timestamp(meta.started_at)
    # ISO text of an aware UTC datetime sorts chronologically; a run without one sorts by its id.
    return (started.isoformat() if started else "", path.name)


def list_runs(results_root: Path | str, suite_name: str | None = None) -> list[RunInfo]:
    """Return the runs under `results_root` (or the run it names), oldest first.

    With `suite_name`, only runs of that suite are listed, and only their run.json is read.
    A run whose run.json is damaged or of an unknown schema version is skipped, with a warning
    naming it. Raises StoreError when the root does not exist or holds no run.
    """
    metas = []
    for path in run_directories(results_root):
        try:
            metas.append((read_run_meta(path), path))
        except StoreError as exc:  # one damaged or newer run does not hide the others
            log.warning("skipped run %s: %s", path, exc)
    if suite_name is not None:
        metas = [(meta, path) for meta, path in metas if meta.suite_name == suite_name]
    metas.sort(key=lambda pair: _sort_key(*pair))
    return [
        RunInfo(run_id=meta.run_id or path.name, path=path, suite_name=meta.suite_name,
                started_at=_timestamp(meta.started_at), finished_at=_timestamp(meta.finished_at),
                harness_version=meta.harness_version, order=order)
        for order, (meta, path) in enumerate(metas)
    ]


def load_history(results_root: Path | str, suite_name: str | None = None,
                 columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Return every measurement of every run under `results_root` as one tidy DataFrame.

    The columns are those of `benchlab.results.run_record.load_results` plus `run_order` (0 for the oldest run
    listed), `run_started_at` and `run_finished_at` (UTC timestamps, NaT when unknown),
    `suite_name`, `harness_version` and `setup_change` (see `setup_changes`). Rows are sorted by
    run, then in the order each run stored them. With `suite_name`, only that suite's runs are read;
    with `columns`, only those columns of each run's table (and run_id, the SERIES and SETUP_COLUMNS
    that `setup_change` is made from): a year of a farm's nights has a few hundred thousand rows
    of about seventy columns, and a command that needs five need not read the rest.
    A run that cannot be read is skipped with a warning naming it. Raises StoreError when the root
    holds no run.
    """
    import numpy as np
    import pandas as pd

    if columns is not None:
        columns = list(dict.fromkeys(["run_id", *SERIES, *SETUP_COLUMNS, *columns]))
    runs = list_runs(results_root, suite_name)
    history, counts = results_of_runs([run.path for run in runs], columns,
                                      lambda path, exc: log.warning("skipped run %s: %s", path, exc))
    if history.empty:  # a run that stored nothing yet still counts in run_order
        return pd.DataFrame(columns=["run_id", *HISTORY_COLUMNS])
    # Each run's own columns, repeated over its rows once for the whole history (not set run by run).
    def per_row(values: list[Any]) -> np.ndarray:
        return np.repeat(np.array(values, dtype=object), counts)

    history.insert(0, "run_order", np.repeat(np.array([run.order for run in runs], dtype=np.int64), counts))
    for column, attribute in (("run_started_at", "started_at"), ("run_finished_at", "finished_at")):
        history[column] = pd.to_datetime(pd.Series(per_row([getattr(run, attribute) for run in runs])), utc=True)
    history["suite_name"] = pd.Series(per_row([run.suite_name for run in runs])).astype("str")
    history["harness_version"] = pd.Series(per_row([run.harness_version for run in runs])).astype("str")
    history["setup_change"] = setup_changes(history)
    return history


def suite_history(results_root: Path | str, suite_name: str | None,
                  columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Return `load_history(results_root, suite_name, columns)`, or an empty table when the root holds
    no run (a comparison of runs given as paths elsewhere has no history to read, which is not an error)."""
    import pandas as pd

    try:
        return load_history(results_root, suite_name, columns)
    except StoreError:
        return pd.DataFrame()


def runs_before(history: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Return the rows of runs before `run_id` in a history (all of it when it does not hold that run):
    what a run may learn from without judging itself by its own numbers."""
    if history.empty:
        return history
    own = history.loc[history["run_id"] == run_id, "run_order"]
    return history if own.empty else history[history["run_order"] < int(own.min())]


def run_suite_history(run_dir: Path, results_root: Path | str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Return the history of a run's suite under `results_root` (suite_history, only `columns` when
    given); raises StoreError when `run_dir` is not a run."""
    return suite_history(results_root, read_run_meta(run_dir).suite_name, columns)


def setup_changes(history: pd.DataFrame) -> pd.Series:
    """Return, per row of a history, what of SETUP_COLUMNS changed since its series' previous run.

    A series is one (model, variant, device_id, accelerator) ordered by `run_order`. The text is
    e.g. "os_version 14/UQ1A → 15/AP3A; runner_version 2.16.1 → 2.17.0", and "" where nothing
    changed, on a series' first row and where a value is unknown (a run that failed before its
    runner said its version is compared with the last one known).
    """
    import numpy as np
    import pandas as pd

    ordered = history.sort_values("run_order", kind="stable")
    if not len(ordered):
        return pd.Series("", index=history.index, dtype=object)
    # The series numbered once (str: a missing key is a key too), not grouped by four text columns per step.
    series = ordered.groupby([ordered[column].astype(str) for column in SERIES], sort=False).ngroup()
    values, previous, changed = [], [], []
    for column in SETUP_COLUMNS:
        value = ordered[column].astype(object).where(ordered[column].notna())
        before = value.groupby(series).ffill().groupby(series).shift(1)
        values.append(value)
        previous.append(before)
        changed.append((value.notna() & before.notna() & (value != before)).to_numpy())
    # Texts only for the rows where something changed: a handful among a year's 400,000.
    rows = np.logical_or.reduce(changed)
    parts = [(column + " " + before[rows].astype(str) + " → " + value[rows].astype(str)).where(change[rows], "")
             for column, value, before, change in zip(SETUP_COLUMNS, values, previous, changed)]
    joined = parts[0]
    for part in parts[1:]:  # "a; b" where both changed, else whichever did
        joined = (joined + "; " + part).where((joined != "") & (part != ""), joined + part)
    return joined.reindex(ordered.index, fill_value="").astype(str).reindex(history.index)


def resolve_run(ref: str | Path, results_root: Path | str) -> Path:
    """Return the run directory `ref` names: a path to a run, or a run id under `results_root`.

    Raises StoreError naming the closest known run ids when neither exists.
    """
    as_path = Path(ref)
    if is_run_folder(as_path):
        return as_path
    root = Path(results_root)
    under_root = run_folder(root, str(ref))
    if is_run_folder(under_root):
        return under_root
    known = sorted((p.name for p in root.iterdir() if is_run_folder(p)), reverse=True) if root.is_dir() else []
    if not known:
        raise StoreError(f"no run {str(ref)!r}: it is not a run directory and {root} holds no runs",
                         hint="pass a results/<run_id> directory, or --results ROOT")
    listed = ", ".join(known[:LISTED_RUNS]) + (" ..." if len(known) > LISTED_RUNS else "")
    raise StoreError(f"no run {str(ref)!r} in {root} (newest runs: {listed})",
                     hint="pass a run id from that list or a path to a run directory")


def latest_before(run_dir: Path | str, results_root: Path | str) -> Path:
    """Return the newest finished run of the same suite that started before `run_dir`'s run.

    This is what ``--baseline latest`` means. Raises StoreError when there is none, rather than
    letting a check pass because it had nothing to compare with.
    """
    run_dir = Path(run_dir)
    meta = read_run_meta(run_dir)
    suite_name = meta.suite_name
    key = _sort_key(meta, run_dir)
    earlier = [run for run in list_runs(results_root, suite_name)
               if run.path.resolve() != run_dir.resolve() and run.finished
               and (run.started_at.isoformat() if run.started_at else "", run.path.name) < key]
    if not earlier:
        raise StoreError(
            f"no earlier finished run of suite {suite_name!r} in {results_root} to use as the baseline",
            hint="the first night has nothing to compare with: run the suite once without --baseline, "
                 "or pass a run id or directory",
        )
    return earlier[-1].path
