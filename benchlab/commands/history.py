"""`benchlab history`: the runs under a results root, or the change points of every series in them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchlab.output_files import write_output
from benchlab.results.changepoints import SEARCHED_COLUMNS, SeriesChanges, changes_frame, find_changes
from benchlab.results.history import RunInfo, list_runs, load_history
from benchlab.results.run_summary import RunSummary, run_listing


@dataclass(frozen=True)
class History:
    """What `benchlab history` found under a results root."""

    root: Path
    #: Every run (of the suite asked for), oldest first, with its summary: counts from its
    #: run-summary.json (benchlab.results.run_summary), not its table. Empty with `changes`.
    runs: tuple[tuple[RunInfo, RunSummary], ...]
    #: How many runs the root holds (of the suite asked for).
    run_count: int
    #: With `changes`: every series' change points and setup changes; else None.
    changes: tuple[SeriesChanges, ...] | None = None
    #: Rows written to the CSV file asked for (the tidy history, or one per series' changes), else None.
    csv_rows: int | None = None


def history(root: Path, suite: str | None = None, changes: bool = False, csv: Path | None = None) -> History:
    """List the runs under `root` (only `suite`'s when given), oldest first; with `changes`, find the
    change points of every series instead (benchlab.results.changepoints). With `csv`, also write
    the tidy history (one row per measurement per run), or with `changes` the changes frame, there.

    Raises StoreError for a root that holds no runs; what write_output raises for the CSV.
    """
    runs = list_runs(root, suite)
    if changes:
        found = find_changes(load_history(root, suite, SEARCHED_COLUMNS))
        if csv is not None:
            write_output(csv, changes_frame(found).to_csv(index=False))
        return History(root, (), len(runs), tuple(found), None if csv is None else len(found))
    listed = tuple((run, run_listing(run.path)) for run in runs)
    if csv is None:
        return History(root, listed, len(runs))
    table = load_history(root, suite)  # the CSV is the whole tidy history
    write_output(csv, table.to_csv(index=False))
    return History(root, listed, len(runs), csv_rows=len(table))
