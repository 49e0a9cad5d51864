"""A run's summary for the history listing: how many measurements it holds, how many are ok, on which devices.

`benchlab history` lists every run of a results root. A farm's year is 365 runs of 1,200 rows, and
opening each run's measurements table to count its rows was most of the listing's time (reading the
Parquet footers of 365 files of about seventy columns, on a shared machine several seconds). So the
counts are kept in a small file beside the tables (RunLayout.run_summary), written when the run
finishes (benchlab.results.store.RunStore.finish) and read back by the listing instead.

The summary names the file it was made from (the measurements table, or measurements.jsonl for a
run that has not finished) with that file's size and modification time. When they no longer match
(a resumed run finished again and rewrote its table, a run still being measured appended a repeat)
or there is no summary (a run stored before summaries existed), the run is counted from its table
again and the new summary written back when the folder can be written, so a stale count is never
listed.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlab.results.layout import RunLayout

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: The columns of a run's measurements table a summary is made from.
SUMMARY_COLUMNS = ("status", "device_id")


@dataclass(frozen=True)
class RunSummary:
    """What the history listing shows of one run."""

    measurements: int
    ok: int
    #: The devices measured, sorted.
    devices: tuple[str, ...]


def summarise(table: pd.DataFrame) -> RunSummary:
    """Return the summary of a run's measurements table (`benchlab.results.run_record.load_results`'s)."""
    if table.empty:
        return RunSummary(0, 0, ())
    return RunSummary(measurements=len(table), ok=int((table["status"] == "ok").sum()),
                      devices=tuple(sorted(str(d) for d in table["device_id"].dropna().unique())))


def _source_stamp(layout: RunLayout) -> list[Any] | None:
    """Return the file a summary of the run is made from, with its size and modification time (None: no
    measurement stored yet)."""
    for path in (layout.measurements_parquet, layout.measurements_jsonl):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        return [path.name, stat.st_size, stat.st_mtime_ns]
    return None


def summary_text(run_dir: Path, table: pd.DataFrame) -> str:
    """Return the summary file's content for `table`, the run's measurements table as stored now
    (RunStore.finish writes it once the table is written)."""
    return _text(summarise(table), _source_stamp(RunLayout(run_dir)))


def _text(summary: RunSummary, source: list[Any] | None) -> str:
    return json.dumps({"source": source, "measurements": summary.measurements, "ok": summary.ok,
                       "devices": list(summary.devices)})


def _stored(layout: RunLayout) -> RunSummary | None:
    """Return the stored summary when it was made from the run's current table, else None."""
    try:
        record = json.loads(layout.run_summary.read_text())
        if record["source"] != _source_stamp(layout):
            return None
        return RunSummary(int(record["measurements"]), int(record["ok"]), tuple(str(d) for d in record["devices"]))
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or damaged: counted again
        return None


def run_summary(run_dir: Path) -> RunSummary:
    """Return a run's summary: the stored one when it is current, else counted from the run's table
    (and stored for the next listing when the folder can be written).

    Raises StoreError when the run's measurements cannot be read.
    """
    from benchlab.results.run_record import load_results

    layout = RunLayout(run_dir)
    stored = _stored(layout)
    if stored is not None:
        return stored
    # Stamped before reading: a repeat appended meanwhile makes the stamp stale, not the count.
    source = _source_stamp(layout)
    summary = summarise(load_results(run_dir, SUMMARY_COLUMNS))
    partial = layout.run_summary.with_name(f"{layout.run_summary.name}.{os.getpid()}.partial")
    try:
        partial.write_text(_text(summary, source))
        os.replace(partial, layout.run_summary)  # whole or not at all: another listing may read it now
    except OSError as exc:  # a read-only or full results root is still listed, only not faster next time
        log.debug("summary of %s not stored: %s", run_dir, exc)
        partial.unlink(missing_ok=True)
    return summary


def run_listing(run_dir: Path) -> RunSummary:
    """Return `run_summary(run_dir)`, or an empty summary with a warning naming the run when its
    measurements cannot be read (one damaged run does not stop the listing of the others)."""
    from benchlab.errors import StoreError

    try:
        return run_summary(run_dir)
    except StoreError as exc:
        log.warning("skipped run %s: %s", run_dir, exc)
        return RunSummary(0, 0, ())
