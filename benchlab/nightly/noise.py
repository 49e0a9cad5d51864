"""The noise floor: how much an unchanged variant's latency moves from one run to the next.

Repeats inside one run see the process-to-process spread of that run, but not what moves a whole
run: a slow episode of a shared machine that lasts minutes, another boot, a different co-tenant.
On this project's 2-core VM, unchanged runs differ by 6-7% (sd) at 1 thread and 27-30% at 2
threads, far more than one run's repeats suggest. So each (model, variant, device, accelerator)
gets a noise floor measured where it runs:

* From history: for consecutive runs of a suite in which the row was measured on the same device
  with the same variant file (sha256), OS build, runner and runner version, the log ratio of
  their median latencies is one "unchanged" change. With at least MIN_CHANGES of them, the noise
  floor is z_0.975 times an upper confidence bound of their spread: the root mean square (the
  true change is zero, so the RMS estimates the sd about it) scaled by sqrt(k / chi2_0.2(k)) for k
  changes, the one-sided 80% bound of a normal sd. A floor from three nights is itself uncertain
  (its RMS is below the true sd about half the time), so a short history errs on the side of
  silence: the factor is 1.73 for 3 changes, 1.29 for 10 and 1.14 for 30. In the 12-run
  benchmarks/validity.py run every remaining A/A false alarm came from a floor built on 3-9
  changes that fell below the spread the later nights showed.
* From calibration: `benchlab calibrate SUITE --runs N` runs the suite N times back to back and
  writes the floors it measured to the results root's noise file (benchlab.results.layout) (the runs stay in the history
  too), so a nightly is trusted from its first night.

* Relative to the controls: the same changes less the median change of the other unchanged rows
  of the device · accelerator between the same two runs (relative_changes). What moved the whole
  machine cancels, so this floor is far tighter on a shared machine (seeded replay of
  benchmarks/validity.py: loaded, 1 thread, a 25% slowdown caught far more often); a row with
  controls and a relative floor is judged by its change relative to them against it.

benchlab.nightly.compare calls a change a regression only beyond max(threshold, noise floor), and every
compared row states its minimum detectable change.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.metrics.stats import Z_95
from benchlab.results.layout import noise_file
from benchlab.results.history import SERIES
from benchlab.results.history import SETUP_COLUMNS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Key = tuple[str, str, str, str]
#: Fewest unchanged run-to-run changes a floor is computed from.
MIN_CHANGES = 3
#: How sure the floor's spread is not an underestimate (one-sided upper bound of a normal sd).
FLOOR_CONFIDENCE = 0.8
#: The history column `benchlab calibrate` measures floors of (latency's); every metric with a
#: `history_column` gets floors from history (`metric_floors_for_run`).
LATENCY_COLUMN = "latency_ms_median"
KEY_COLUMNS = list(SERIES)
#: A row's latency is only comparable across runs when these did not change.
SAME_SETUP = ["variant_sha256", *SETUP_COLUMNS]


def floor_columns() -> tuple[str, ...]:
    """Return the columns of a history the noise floors are computed from (load_history's `columns`;
    it adds the run, the row key and the setup): a year of nights is read for these alone."""
    from benchlab.metrics import registered

    return ("status", *SAME_SETUP, *(metric.history_column for metric in registered() if metric.history_column))


@dataclass(frozen=True)
class _Changes:
    """Every unchanged log change of a history, key by key (in the order the keys first appear) and in
    run order within a key: `keys[key_index[i]]` changed by `change[i]` from run `before[i]` to `after[i]`."""

    keys: list[Key]
    key_index: np.ndarray
    before: np.ndarray
    after: np.ndarray
    change: np.ndarray


def _by_key(keys: Sequence[Key], key_index: np.ndarray, values: np.ndarray) -> dict[Key, list[float]]:
    """Return `values` as one list per key; `key_index` (which of `keys` each value is of) is grouped."""
    import numpy as np

    bounds = np.flatnonzero(np.diff(key_index)) + 1
    return {keys[int(part[0])]: chunk.tolist()
            for part, chunk in zip(np.split(key_index, bounds), np.split(values, bounds)) if len(part)}


def _changes_by_run_pair(history: pd.DataFrame, column: str = LATENCY_COLUMN) -> _Changes:
    """Return every unchanged log change of `column` (the median latency unless told) in `history`:
    between consecutive measurements of a row where nothing in SAME_SETUP changed, row by row and in
    run order. Computed for every row at once: a year of a farm's nights is 400,000 measurements."""
    import numpy as np

    if history.empty or column not in history.columns:
        empty = np.array([], dtype=np.intp)
        return _Changes([], empty, empty, empty, np.array([], dtype=float))
    ok = history[(history["status"] == "ok") & history[column].notna()]
    # Rows numbered by key in the order keys first appear, then sorted by key and run (the row order breaks ties).
    codes = ok.groupby(KEY_COLUMNS, sort=False, dropna=False).ngroup().to_numpy()
    # Each row's setup numbered the same way: equal numbers, nothing in SAME_SETUP differs.
    setup = ok.groupby(SAME_SETUP, sort=False, dropna=False).ngroup().to_numpy()
    run_order = ok["run_order"].to_numpy(dtype=np.int64)
    order = np.lexsort((run_order, codes))
    codes, run_order, setup = codes[order], run_order[order], setup[order]
    values = ok[column].to_numpy(dtype=float)[order]
    follows = ((codes[1:] == codes[:-1]) & (setup[1:] == setup[:-1]) & (values[1:] > 0) & (values[:-1] > 0))
    at = np.flatnonzero(follows) + 1
    firsts = order[np.unique(codes, return_index=True)[1]]  # each key's first row
    keys = list(zip(*(ok[name].iloc[firsts].tolist() for name in KEY_COLUMNS)))
    return _Changes(keys=keys, key_index=codes[at], before=run_order[at - 1], after=run_order[at],
                    change=np.log(values[at] / values[at - 1]))


def unchanged_changes(history: pd.DataFrame, column: str = LATENCY_COLUMN) -> dict[Key, list[float]]:
    """Return, per row key, the log changes of `column` (the median latency unless told) between
    consecutive runs where nothing changed.

    `history` is benchlab.results.history.load_history's table (one row per measurement and run).
    """
    changes = _changes_by_run_pair(history, column)
    return _by_key(changes.keys, changes.key_index, changes.change)


def relative_to_others(changes: Mapping[Key, float]) -> dict[Key, float]:
    """Return each row's change between two runs less the median change of the other rows of its
    device · accelerator between them; a row alone in its device · accelerator gives none."""
    # The rows of each device · accelerator, found once (not by scanning every row for every row).
    groups: dict[tuple[str, ...], list[tuple[Key, float]]] = {}
    for key, change in changes.items():
        groups.setdefault(key[2:], []).append((key, change))
    found = {}
    for key, change in changes.items():
        others = [other for k, other in groups[key[2:]] if k != key]
        if others:
            found[key] = change - statistics.median(others)
    return found


def relative_changes(history: pd.DataFrame) -> dict[Key, list[float]]:
    """Return, per row key, its unchanged changes less the median unchanged change of the other rows
    of its device · accelerator between the same two runs (relative_to_others for every pair of runs,
    computed for all of them at once), each key's in the order the pairs of runs first appear
    in the history."""
    import numpy as np
    import pandas as pd

    changes = _changes_by_run_pair(history)
    if not len(changes.change):
        return {}
    # Pairs of runs numbered in the order they first appear; a row changes once per pair (its last change counts).
    pair = pd.factorize(changes.before * (int(changes.after.max()) + 1) + changes.after)[0]
    last = ~pd.DataFrame({"pair": pair, "key": changes.key_index}).duplicated(keep="last").to_numpy()
    pair, key_index, change = pair[last], changes.key_index[last], changes.change[last]
    group_of_key = pd.factorize(pd.Series([key[2:] for key in changes.keys], dtype=object))[0]
    group = group_of_key[key_index]
    # Each (pair, device · accelerator) block sorted by change: the median of the others is read from
    # the block by where the row itself sits in it (statistics.median of the block without the row).
    order = np.lexsort((change, group, pair))
    block = np.concatenate(([True], (pair[order][1:] != pair[order][:-1]) | (group[order][1:] != group[order][:-1])))
    starts = np.flatnonzero(block)
    sizes = np.diff(np.append(starts, len(order)))
    start = np.repeat(starts, sizes)
    others = np.repeat(sizes, sizes) - 1
    rank = np.arange(len(order)) - start
    ranked = change[order]

    def other(j: np.ndarray) -> np.ndarray:  # the j-th smallest of the block without the row itself
        return ranked[np.minimum(start + j + (j >= rank), len(order) - 1)]

    half = others // 2
    median = np.where(others % 2 == 1, other(half), (other(np.maximum(half - 1, 0)) + other(half)) / 2)
    relative = np.full(len(order), np.nan)
    relative[order] = ranked - median
    has_others = np.zeros(len(order), dtype=bool)
    has_others[order] = others > 0
    kept = np.flatnonzero(has_others)
    in_pair_order = kept[np.lexsort((pair[kept], key_index[kept]))]
    return _by_key(changes.keys, key_index[in_pair_order], relative[in_pair_order])


def relative_noise_floors(history: pd.DataFrame) -> dict[Key, float]:
    """Return each row key's noise floor in percent relative to its controls, from history alone
    (calibration runs are in the history too)."""
    floors = {key: noise_floor_pct(values) for key, values in relative_changes(history).items()}
    return {key: floor for key, floor in floors.items() if floor is not None}


def noise_floor_pct(changes: Sequence[float]) -> float | None:
    """Return the noise floor in percent from unchanged log changes, None below MIN_CHANGES.

    The spread is the RMS of the changes raised to its 80% upper confidence bound (see the module
    docstring), so few changes give a wider floor.
    """
    count = len(changes)
    if count < MIN_CHANGES:
        return None
    rms = math.sqrt(sum(c * c for c in changes) / count)
    upper = rms * math.sqrt(count / _chi2_lower(count))
    return 100.0 * math.expm1(Z_95 * upper)


@lru_cache(maxsize=None)
def _chi2_lower(count: int) -> float:
    """The chi-square quantile of the floor's bound for `count` changes (scipy's ppf costs about a
    millisecond, and a year of a farm's rows asks it for the same few hundred counts thousands of times)."""
    from scipy.stats import chi2

    return float(chi2.ppf(1 - FLOOR_CONFIDENCE, count))


def noise_floors(history: pd.DataFrame, calibration: dict[Key, list[float]] | None = None,
                 column: str = LATENCY_COLUMN) -> dict[Key, float]:
    """Return each row key's noise floor in percent of `column`, from history plus calibration changes."""
    changes = unchanged_changes(history, column)
    for key, extra in (calibration or {}).items():
        changes[key] = [*extra, *changes.get(key, [])]
    floors = {key: noise_floor_pct(values) for key, values in changes.items()}
    return {key: floor for key, floor in floors.items() if floor is not None}


def write_calibration(results_root: Path, suite_name: str, changes: dict[Key, list[float]]) -> Path:
    """Write the measured changes and floors of one suite into the results root's noise file."""
    path = noise_file(results_root)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[suite_name] = [{"model": k[0], "variant": k[1], "device_id": k[2], "accelerator": k[3],
                         "changes_log": v, "noise_floor_pct": noise_floor_pct(v)} for k, v in changes.items()]
    path.write_text(json.dumps(data, indent=1))
    return path


def read_calibration(results_root: Path, suite_name: str | None) -> dict[Key, list[float]]:
    """Return the calibration changes of a suite stored under the results root (empty when none)."""
    path = noise_file(results_root)
    if suite_name is None or not path.exists():
        return {}
    rows: Iterable[dict] = json.loads(path.read_text()).get(suite_name, [])
    return {(r["model"], r["variant"], r["device_id"], r["accelerator"]): list(r["changes_log"]) for r in rows}


def floors_for_run(run_dir: Path, results_root: Path, history: pd.DataFrame | None = None,
                   column: str = LATENCY_COLUMN) -> dict[Key, float]:
    """Return noise floors of `column` for a run's rows from the history of its suite before it, plus
    calibration (which `benchlab calibrate` measures for latency only).

    `history` is the suite's history when the caller has read it already (else it is read here).
    The run itself is left out: a real regression in it must not widen its own noise floor.
    """
    from benchlab.results.history import run_suite_history, runs_before
    from benchlab.results.store import read_run_meta

    meta = read_run_meta(run_dir)
    if history is None:
        history = run_suite_history(run_dir, results_root, floor_columns())  # empty: only calibration, if any
    history = runs_before(history, meta.run_id or run_dir.name)
    calibration = read_calibration(results_root, meta.suite_name) if column == LATENCY_COLUMN else None
    return noise_floors(history, calibration, column)


def metric_floors_for_run(run_dir: Path, results_root: Path, history: pd.DataFrame | None = None
                          ) -> dict[str, dict[Key, float]]:
    """Return, per metric with a `history_column` (latency, energy), the run's noise floors
    (`floors_for_run`), for benchlab.nightly.compare."""
    from benchlab.metrics import registered
    from benchlab.results.history import run_suite_history

    if history is None:
        history = run_suite_history(run_dir, results_root, floor_columns())
    return {metric.name: floors_for_run(run_dir, results_root, history, metric.history_column)
            for metric in registered() if metric.history_column}
