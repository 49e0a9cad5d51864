"""The fast paths over a long history give what the plain ones gave, on a generated history
(benchmarks/make_history.py: real steps, OS and runner updates, failed repeats, written by the store)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ruptures

import benchlab.nightly.noise as noise
import benchlab.results.changepoints as changepoints
from benchlab.results.changepoints import SEARCHED_COLUMNS, changes_frame, find_changes
from benchlab.results.history import load_history
from benchlab.results.layout import RunLayout
from benchlab.results.run_summary import RunSummary
from benchmarks.make_history import Shape, write_history

NIGHTS = 30


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("history") / "results"
    write_history(root, Shape(nights=NIGHTS, phones=1, repeats=2, iterations=5, seed=24), say=lambda _m: None)
    return root


def ruptures_search(signals: list[np.ndarray]) -> list[list[int]]:
    """The search as benchlab ran it before benchlab.results.pelt: ruptures' Pelt, one series at a time."""
    return [ruptures.Pelt(model="l1", min_size=changepoints.MIN_SEGMENT_RUNS, jump=1)
            .fit(signal.reshape(-1, 1)).predict(pen=changepoints._penalty(len(signal)))[:-1] for signal in signals]


def test_change_points_of_a_generated_history_are_those_ruptures_finds(generated: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    history = load_history(generated)
    fast = changes_frame(find_changes(history))
    monkeypatch.setattr(changepoints, "_breakpoints", ruptures_search)
    plain = changes_frame(find_changes(history))
    assert fast.equals(plain)
    assert set(fast["status"]) >= {"change", "setup change", "no change"}  # steps and updates were there


def test_a_history_read_for_some_columns_is_the_whole_history_cut_to_them(generated: Path) -> None:
    whole = load_history(generated)
    for columns in (SEARCHED_COLUMNS, ("status", "device_id")):
        cut = load_history(generated, columns=columns)
        assert cut.equals(whole[list(cut.columns)])
        assert set(columns) <= set(cut.columns)
    assert (whole["setup_change"] != "").any()


def test_the_listing_counts_each_run_as_its_whole_table_does(generated: Path) -> None:
    from benchlab.results.history import list_runs
    from benchlab.results.run_summary import run_summary

    whole = load_history(generated)
    runs = list_runs(generated)
    assert all(RunLayout(run.path).run_summary.is_file() for run in runs)  # written when each run finished
    for run in runs:
        rows = whole[whole["run_id"] == run.run_id]
        assert run_summary(run.path) == RunSummary(len(rows), int((rows["status"] == "ok").sum()),
                                                   tuple(sorted(rows["device_id"].unique())))


def test_a_summary_is_counted_again_once_its_table_changed(generated: Path, tmp_path: Path) -> None:
    import shutil

    from benchlab.results.run_summary import run_summary

    run = tmp_path / "run"
    shutil.copytree(sorted(p for p in generated.iterdir() if p.is_dir())[0], run)
    table = pd.read_parquet(RunLayout(run).measurements_parquet)
    before = run_summary(run)
    table.iloc[1:].to_parquet(RunLayout(run).measurements_parquet, index=False)  # as a resumed run finishing again
    after = run_summary(run)
    assert after.measurements == before.measurements - 1
    RunLayout(run).measurements_parquet.unlink()  # a run still being measured: counted from its records
    RunLayout(run).run_summary.write_text("{not json")
    assert run_summary(run) == before
    assert json.loads(RunLayout(run).run_summary.read_text())["measurements"] == before.measurements


def plain_changes(history: pd.DataFrame) -> list[tuple[tuple[int, int], tuple, float]]:
    """Unchanged changes as benchlab.nightly.noise found them before computing them for every row at once:
    series by series, row by row."""
    ok = history[(history["status"] == "ok") & history["latency_ms_median"].notna()]
    setup = ok[noise.SAME_SETUP].astype(str).agg("|".join, axis=1)
    found = []
    for key, rows in ok.assign(setup=setup).groupby(noise.KEY_COLUMNS, sort=False, dropna=False):
        rows = rows.sort_values("run_order")
        values, order, setups = rows["latency_ms_median"].tolist(), rows["run_order"].tolist(), rows["setup"].tolist()
        found.extend(((order[i - 1], order[i]), tuple(key), float(np.log(values[i] / values[i - 1])))
                     for i in range(1, len(rows)) if setups[i] == setups[i - 1] and values[i] > 0 and values[i - 1] > 0)
    return found


def test_noise_floors_of_a_generated_history_are_those_row_by_row(generated: Path) -> None:
    history = load_history(generated)
    found = plain_changes(history)
    by_key: dict[tuple, list[float]] = {}
    pairs: dict[tuple[int, int], dict[tuple, float]] = {}
    for runs, key, change in found:
        by_key.setdefault(key, []).append(change)
        pairs.setdefault(runs, {})[key] = change
    relative: dict[tuple, list[float]] = {}
    for changes in pairs.values():
        for key, value in noise.relative_to_others(changes).items():
            relative.setdefault(key, []).append(value)
    assert noise.unchanged_changes(history) == by_key
    assert noise.relative_changes(history) == relative
    assert len(relative) == len(by_key) == 60 and min(map(len, relative.values())) > 20


def test_compare_reads_only_the_history_columns_it_needs(generated: Path) -> None:
    from benchlab.nightly.compare import compare_runs, history_columns
    from benchlab.nightly.noise import metric_floors_for_run

    base, cand = sorted(p for p in generated.iterdir() if p.is_dir())[-2:]
    results = []
    for history in (load_history(generated), load_history(generated, columns=history_columns())):
        floors = metric_floors_for_run(cand, generated, history)
        results.append(compare_runs(base, cand, history=history, noise_floors=floors))
    assert results[0] == results[1]
    assert any(c.changes["latency"].noise_floor_pct for c in results[0].comparisons)
