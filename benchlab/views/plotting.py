"""matplotlib set up for files, not windows: every plot benchlab draws goes through here."""

from __future__ import annotations

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
