"""Point labels on the trade-off plot: variants of nearly one size and latency keep readable names."""

from __future__ import annotations

from itertools import combinations

from benchlab.views.plotting import label_points, pyplot

#: The quickstart's variants on one thread as `make demo` measured them (size KB, median ms): four of
#: them within 20 KB and 0.03 ms of each other.
MEASURED = {"dynamic-int8 97.5%": (199.3, 0.292), "full-int8 97.5%": (217.2, 0.305),
            "prune-50+full-int8 98.3%": (217.2, 0.278), "fp16 97.5%": (342.1, 0.320),
            "prune-50 98.1%": (433.7, 0.310), "fp32 97.5%": (660.9, 0.322), "distill-0.5x 91.1%": (41.7, 0.009),
            "int16x8 97.5%": (237.0, 14.321)}


def test_labels_of_crowded_points_do_not_overlap_and_stay_inside_the_axes() -> None:
    from matplotlib.text import Text

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    points = list(MEASURED.values())
    ax.scatter(*zip(*points))
    ax.set_yscale("log")
    ax.plot([], [], label="Pareto front")
    ax.legend(loc="upper right")
    label_points(ax, points, list(MEASURED))

    renderer = fig.canvas.get_renderer()
    boxes = {}
    for text in ax.texts:
        text.update_positions(renderer)
        boxes[text.get_text()] = Text.get_window_extent(text, renderer)
    assert set(boxes) == set(MEASURED)
    inside, legend = ax.get_window_extent(renderer), ax.get_legend().get_window_extent(renderer)
    for name, box in boxes.items():
        assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1), name
        assert not box.overlaps(legend), name
    assert [pair for pair in combinations(boxes, 2) if boxes[pair[0]].overlaps(boxes[pair[1]])] == []
    # A label moved off its point says which point it names with a line; one beside its point needs none.
    moved = [text for text in ax.texts if text.arrow_patch is not None]
    assert all(abs(text.xyann[1]) >= 10 for text in moved)
    plt.close(fig)
