"""benchlab: which optimized model to ship, per device tier — measured, not guessed.

`load_results(path)` and `load_samples(path)` give the tidy tables of a run (or of every run
under a results root). Imports are lazy so `import benchlab` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_results", "load_samples"]


def load_results(path: Any) -> pd.DataFrame:
    """Return one row per measurement of the run(s) at `path` (see benchlab.run_record.load_results)."""
    from benchlab.run_record import load_results as load

    return load(path)


def load_samples(path: Any) -> pd.DataFrame:
    """Return one row per timed inference of the run(s) at `path` (see benchlab.run_record.load_samples)."""
    from benchlab.run_record import load_samples as load

    return load(path)
