"""matplotlib set up for files, not windows: every plot benchlab draws goes through here."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """Return matplotlib.pyplot on the Agg backend (no display needed; imported only when plotting)."""
    import matplotlib

    matplotlib.use("Agg")
    # Names in suites are free text: "$" must print as itself, not start matplotlib's math mode.
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def plain_log_ticks(axis: Any) -> None:
    """Label a log axis with plain numbers (0.1, 1, 10): with math text off for free-text names,
    matplotlib's default "$10^{-1}$" labels would print as raw TeX."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))


def save(fig: Any, path: Path, dpi: int = 110, **options: Any) -> Path:
    """Write the figure to `path`, free its memory, and return the path."""
    fig.savefig(path, dpi=dpi, **options)
    pyplot().close(fig)
    return path


#: Where a point's label may go, in points from the point (dx, dy) and its horizontal alignment, in the
#: order tried: right of the point, then further below and above, then left of it.
LABEL_SLOTS: tuple[tuple[float, float, str], ...] = tuple(
    (dx, dy, align) for dx, align in ((5, "left"), (-5, "right")) for dy in (4, -11, 14, -21, 24, -31, 34, -41))


def label_points(ax: Any, points: list[tuple[float, float]], labels: list[str], fontsize: float = 7,
                 keep_clear: Sequence[tuple[float, float]] = ()) -> None:
    """Write each label next to its point (data coordinates), inside the axes, where it overlaps no label
    placed before it, no point, no point of `keep_clear` (drawn with a big marker, as a pick's star)
    and not the legend, trying LABEL_SLOTS in order; a label moved away from
    its point gets a thin line to it, and a label with no free slot takes the first.

    Variants of nearly one size and latency (full-int8 and the same model pruned first) would otherwise
    print their names over each other. Call once the axes' limits, scales and legend are final: the
    slots are judged in display coordinates.
    """
    from matplotlib.text import Text

    ax.autoscale_view()  # matplotlib settles data limits lazily: transData must map with the final ones
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    taken = [] if ax.get_legend() is None else [ax.get_legend().get_window_extent(renderer)]
    for marked, points_wide in ((points, 4.0), (list(keep_clear), 10.0)):  # a marker's half-width, in points
        half = points_wide * fig.dpi / 72
        shown = ax.transData.transform(marked) if marked else []
        taken += [_box(x - half, y - half, x + half, y + half) for x, y in shown]
    # Bottom to top, so a crowded row of points fills its slots in one order from run to run.
    for (x, y), label in sorted(zip(points, labels), key=lambda item: (item[0][1], item[0][0])):
        # Every slot, then the first again: where a label goes when no slot is free.
        for index, (dx, dy, align) in enumerate((*LABEL_SLOTS, LABEL_SLOTS[0])):
            near = abs(dy) < 10 or index == len(LABEL_SLOTS)
            text = ax.annotate(label, (x, y), textcoords="offset points", xytext=(dx, dy), ha=align, va="center",
                               fontsize=fontsize, annotation_clip=False,
                               arrowprops=None if near else {"arrowstyle": "-", "color": "grey", "lw": 0.5})
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer)  # the words only: an Annotation's own counts its line
            fits = inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1)
            if index == len(LABEL_SLOTS) or (fits and not any(box.overlaps(other) for other in taken)):
                taken.append(box)
                break
            text.remove()


def _box(x0: float, y0: float, x1: float, y1: float) -> Any:
    from matplotlib.transforms import Bbox

    return Bbox([[x0, y0], [x1, y1]])
