"""The fast paths over a long history give what the plain ones gave, on a generated history
(benchmarks/make_history.py: real steps, OS and runner updates, failed repeats, written by the store)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import ruptures

import benchlab.results.changepoints as changepoints
from benchlab.results.changepoints import SEARCHED_COLUMNS, changes_frame, find_changes
from benchlab.results.history import load_history
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
