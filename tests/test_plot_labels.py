"""Point labels on the trade-off plot: variants of nearly one size and latency keep readable names."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest

from benchlab.views.plotting import label_points, pyplot
from benchlab.views.report import plot_tradeoff

#: The quickstart's variants on one thread as `make demo` measured them (size KB, median ms): four of
#: them within 20 KB and 0.03 ms of each other.
MEASURED = {"dynamic-int8": (199.3, 0.292), "full-int8": (217.2, 0.305), "prune-50+full-int8": (217.2, 0.278),
            "fp16": (342.1, 0.320), "prune-50": (433.7, 0.310), "fp32": (660.9, 0.322), "distill-0.5x": (41.7, 0.009),
            "int16x8": (237.0, 14.321)}


def _label_boxes(ax) -> dict:  # type: ignore[no-untyped-def]
    """Each label's text box on the drawn figure, by its text (the words only, not the line to its point)."""
    from matplotlib.text import Text

    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    return {text.get_text(): Text.get_window_extent(text, renderer) for text in ax.texts}


def _assert_readable(ax, names: list[str]) -> None:  # type: ignore[no-untyped-def]
    boxes = _label_boxes(ax)
    assert set(boxes) == set(names)
    renderer = ax.figure.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    legend = ax.get_legend().get_window_extent(renderer) if ax.get_legend() else None
    for name, box in boxes.items():
        assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1), name
        assert legend is None or not box.overlaps(legend), name
    assert [pair for pair in combinations(boxes, 2) if boxes[pair[0]].overlaps(boxes[pair[1]])] == []
    points = ax.transData.transform(list(MEASURED.values()))
    for name, box in boxes.items():  # no label covers a point (a marker is 4 points wide each side)
        half = 4.0 * ax.figure.dpi / 72
        assert not any(box.overlaps(type(box)([[x - half, y - half], [x + half, y + half]])) for x, y in points), name


@pytest.mark.parametrize("scale", ["log", "linear"])
def test_labels_of_crowded_points_do_not_overlap_each_other_the_points_or_the_legend(scale: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    points = list(MEASURED.values())
    ax.scatter(*zip(*points))  # no draw before labelling: the axes' limits are still to be settled
    ax.set_yscale(scale)
    ax.plot([], [], label="Pareto front")
    ax.legend(loc="upper right")
    label_points(ax, points, list(MEASURED))
    _assert_readable(ax, list(MEASURED))
    plt.close(fig)


def test_the_trade_off_plot_labels_every_variant_readably(tmp_path: Path) -> None:
    rows = [{"model": "m", "device_id": "host", "accelerator": "cpu-t1", "variant": name, "status": "ok",
             "size_bytes": size * 1024, "latency_ms_median": ms, "accuracy": 97.5, "pareto": name == "distill-0.5x",
             "pick": name == "dynamic-int8"} for name, (size, ms) in MEASURED.items()]
    assert plot_tradeoff(pd.DataFrame(rows), tmp_path / "tradeoff.png") == tmp_path / "tradeoff.png"
    # plot_tradeoff saved and closed its figure; draw the same panel again to read where the labels went.
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.scatter(*zip(*MEASURED.values()))
    ax.set_yscale("log")
    label_points(ax, list(MEASURED.values()), [f"{name} 97.5%" for name in MEASURED],
                 keep_clear=[MEASURED["dynamic-int8"]])
    _assert_readable(ax, [f"{name} 97.5%" for name in MEASURED])
    star = ax.transData.transform([MEASURED["dynamic-int8"]])[0]
    half = 10.0 * fig.dpi / 72
    for box in _label_boxes(ax).values():  # the pick's star is kept clear too
        assert not box.overlaps(type(box)([[star[0] - half, star[1] - half], [star[0] + half, star[1] + half]]))
    plt.close(fig)
