"""Runs on different OS builds or runner versions are never merged silently: stored runs written
with benchlab's own store, read back by load_results, load_history and the trend plots."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import benchlab.views.trends as trends
from benchlab.results.layout import TREND_LATENCY_PNG
from benchlab.cli import main
from benchlab.nightly.noise import unchanged_changes
from benchlab.results.history import SETUP_COLUMNS, load_history
from benchlab.results.run_record import load_results
from tests.test_compare import measurement, night, repeats

NIGHTS = 12
#: The night the phone got a new OS build, and (in the runner test) a new benchmark_model.
UPDATE_NIGHT = 6
#: Night-to-night spread of a phone's latency (log-normal sigma), on top of the spread between repeats.
NIGHT_SPREAD = 0.05


def write_nights(root: Path, *, os_update: bool, runner_update: bool = False, step: float = 1.25,
                 nights: int = NIGHTS, regression_night: int | None = None, regression: float = 1.3) -> list[str]:
    """`nights` nights of one variant on two phones; return their run ids. Each phone's night has its own
    level (NIGHT_SPREAD log-normal) shared by its repeats, so nights differ more than repeats of one
    night, as on real phones. From UPDATE_NIGHT on, pixel7 is `step` times slower and (as asked) on a
    new OS build or runner version; pixel8 never changes setup. From `regression_night` on, the code
    is `regression` times slower on both phones."""
    rng = np.random.default_rng(5)
    run_ids = []
    for day in range(nights):
        later = day >= UPDATE_NIGHT
        code = regression if regression_night is not None and day >= regression_night else 1.0
        pixel7_us, pixel8_us = 2000.0 * code * rng.lognormal(0.0, NIGHT_SPREAD, 2)
        pixel7 = measurement(repeats(rng, median_us=pixel7_us * (step if later else 1.0)), device_id="pixel7",
                             os_version="15/AP3A" if later and os_update else "14/UQ1A",
                             runner_version="2.17.0" if later and runner_update else "2.16.1")
        pixel8 = measurement(repeats(rng, median_us=pixel8_us), device_id="pixel8")
        run_ids.append(night(root, f"202611{day + 1:02d}-nightly", day + 1, pixel7, pixel8).name)
    return run_ids


def test_results_of_several_runs_keep_the_os_build_and_runner_version_of_every_row(tmp_path: Path) -> None:
    write_nights(tmp_path, os_update=True, runner_update=True)
    table = load_results(tmp_path)
    assert set(SETUP_COLUMNS) <= set(table.columns)
    pixel7 = table[table["device_id"] == "pixel7"].sort_values("run_id")
    assert pixel7["os_version"].tolist() == ["14/UQ1A"] * UPDATE_NIGHT + ["15/AP3A"] * (NIGHTS - UPDATE_NIGHT)
    assert pixel7["runner_version"].tolist() == ["2.16.1"] * UPDATE_NIGHT + ["2.17.0"] * (NIGHTS - UPDATE_NIGHT)


def test_history_says_on_which_run_and_what_of_the_setup_changed(tmp_path: Path) -> None:
    write_nights(tmp_path, os_update=True, runner_update=True)
    history = load_history(tmp_path)
    changed = history[history["setup_change"] != ""]
    assert changed["device_id"].tolist() == ["pixel7"]  # pixel8 ran on one setup all along
    assert changed["run_order"].tolist() == [UPDATE_NIGHT]
    assert changed["setup_change"].tolist() == ["os_version 14/UQ1A → 15/AP3A; runner_version 2.16.1 → 2.17.0"]


def test_a_failed_night_without_a_runner_version_is_not_a_setup_change(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    night(tmp_path, "n1", 1, measurement(repeats(rng)))
    night(tmp_path, "n2", 2, measurement((), status="failed", error="binary crashed", runner_version=None))
    night(tmp_path, "n3", 3, measurement(repeats(rng)))
    night(tmp_path, "n4", 4, measurement(repeats(rng), runner_version="2.17.0"))
    assert load_history(tmp_path)["setup_change"].tolist() == ["", "", "", "runner_version 2.16.1 → 2.17.0"]


def test_the_noise_floor_uses_no_run_to_run_change_across_an_os_update(tmp_path: Path) -> None:
    write_nights(tmp_path, os_update=True)
    pixel7 = unchanged_changes(load_history(tmp_path))[("mobilenet", "fp16", "pixel7", "cpu-t4")]
    assert len(pixel7) == NIGHTS - 2  # 11 consecutive pairs, less the one across the update
    assert max(abs(change) for change in pixel7) < np.log(1.2)  # the 25% step is not noise


def _latency_figure(history: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Draw the latency trend and return its figure (kept open to read what was drawn)."""
    drawn = []
    monkeypatch.setattr(trends, "save", lambda fig, path, **_options: drawn.append(fig) or path)
    assert trends.plot_latency_trend(history, tmp_path / TREND_LATENCY_PNG) is not None
    return drawn[0]


def test_trends_split_a_series_at_an_os_update_and_call_its_step_no_change_point(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_nights(tmp_path / "results", os_update=True)
    figure = _latency_figure(load_history(tmp_path / "results"), tmp_path, monkeypatch)
    pixel7 = next(ax for ax in figure.axes if "pixel7" in ax.get_title())
    fp16_lines = [line for line in pixel7.lines if line.get_marker() == "o"]
    assert [list(line.get_xdata()) for line in fp16_lines] == [list(range(UPDATE_NIGHT)),
                                                               list(range(UPDATE_NIGHT, NIGHTS))]
    assert [text.get_text() for text in pixel7.texts] == ["os_version 14/UQ1A → 15/AP3A"]  # no "+25%"
    assert trends.SETUP_LEGEND in [text.get_text() for text in pixel7.get_legend().get_texts()]
    pixel8 = next(ax for ax in figure.axes if "pixel8" in ax.get_title())
    assert not pixel8.texts and trends.SETUP_LEGEND not in [t.get_text() for t in pixel8.get_legend().get_texts()]


def test_trends_mark_the_same_step_as_a_change_point_when_the_setup_did_not_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_nights(tmp_path / "results", os_update=False)
    figure = _latency_figure(load_history(tmp_path / "results"), tmp_path, monkeypatch)
    pixel7 = next(ax for ax in figure.axes if "pixel7" in ax.get_title())
    ((step,),) = [[text.get_text() for text in pixel7.texts]]
    assert step.startswith("+2")  # about +25%, at the night it happened
    assert [line for line in pixel7.lines if line.get_marker() == "o"][0].get_xdata().tolist() == list(range(NIGHTS))


def history_changes(root: Path, out: Path, capsys: pytest.CaptureFixture,
                    monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], dict[str, list[dict[str, str]]]]:
    """Run `benchlab history --changes --csv` on `root`; return the printed table's lines (a terminal wide
    enough that no cell wraps) and the CSV rows per device."""
    monkeypatch.setenv("COLUMNS", "260")
    assert main(["history", "--changes", "--results", str(root), "--csv", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows: dict[str, list[dict[str, str]]] = {}
    with open(out, newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["device_id"], []).append(row)
    return lines, rows


def test_history_changes_reports_an_os_update_as_a_setup_change_and_the_code_regression_after_it(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    run_ids = write_nights(tmp_path / "results", os_update=True, nights=18, regression_night=12)
    lines, rows = history_changes(tmp_path / "results", tmp_path / "changes.csv", capsys, monkeypatch)
    update, regression = f"#{UPDATE_NIGHT} {run_ids[UPDATE_NIGHT]}", f"#12 {run_ids[12]}"
    pixel7 = [line for line in lines if "pixel7" in line]
    assert len(pixel7) == 3 and "no change" in pixel7[0]  # the old OS build's six nights
    assert update in pixel7[1] and "setup changed: os_version 14/UQ1A → 15/AP3A (step not judged)" in pixel7[1]
    assert regression in pixel7[2] and "change point" in pixel7[2]
    (pixel8,) = [line for line in lines if "pixel8" in line]  # one setup: the regression only
    assert regression in pixel8 and "change point" in pixel8
    assert [row["status"] for row in rows["pixel7"]] == ["no change", "setup change", "change"]
    _, setup, change = rows["pixel7"]
    assert (setup["run_id"], setup["setup_change"], setup["segment"]) == (run_ids[UPDATE_NIGHT],
                                                                         "os_version 14/UQ1A → 15/AP3A", "1")
    assert float(setup["change_pct"]) == pytest.approx(25.0, abs=8.0)  # what the update did, not judged
    assert (change["run_id"], change["runs_before"], change["runs_after"]) == (run_ids[12], "6.0", "6.0")
    assert float(change["change_pct"]) == pytest.approx(30.0, abs=8.0)
    (pixel8_change,) = rows["pixel8"]
    assert (pixel8_change["status"], pixel8_change["run_id"], pixel8_change["runs"]) == ("change", run_ids[12], "18")


def test_history_changes_says_a_new_setup_has_too_few_runs_to_judge(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    run_ids = write_nights(tmp_path / "results", os_update=True, runner_update=True, nights=UPDATE_NIGHT + 3)
    lines, rows = history_changes(tmp_path / "results", tmp_path / "changes.csv", capsys, monkeypatch)
    pixel7 = [line for line in lines if "pixel7" in line]
    assert "setup changed: os_version 14/UQ1A → 15/AP3A; runner_version 2.16.1 → 2.17.0" in pixel7[1]
    assert "too few runs (3 < 6)" in pixel7[2] and "change point" not in pixel7[2]
    assert any(line.startswith("too few runs: a setup needs 6 runs") for line in lines)
    assert [row["status"] for row in rows["pixel7"]] == ["no change", "setup change", "too few runs (3 < 6)"]
    assert rows["pixel7"][1]["run_id"] == run_ids[UPDATE_NIGHT] and rows["pixel7"][2]["change_pct"] == ""
    assert [row["status"] for row in rows["pixel8"]] == ["no change"]
