"""benchlab: which optimized model to ship, per device tier — measured, not guessed.

`run(suite_path, results_root, baseline=None)` runs a suite (and gates it against a baseline);
`load_results(path)` and `load_samples(path)` give the tidy tables of a run (or of every run
under a results root). Imports are lazy so `import benchlab` stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from benchlab.pipeline import RunOutcome

__all__ = ["load_results", "load_samples", "run"]


def run(suite_path: Path | str, results_root: Path | str = "results", baseline: str | None = None) -> RunOutcome:
    """Run a suite on its targets and return its outcome (see benchlab.pipeline.run).

    `outcome.run_dir`, `outcome.record.results` (the table), `outcome.exit_code`; with a baseline
    ("latest", a run id or a directory), `outcome.comparison`.
    """
    from benchlab.pipeline import run as run_pipeline

    return run_pipeline(suite_path, results_root, baseline)


def load_results(path: Path | str) -> pd.DataFrame:
    """Return one row per measurement of the run(s) at `path` (see benchlab.results.run_record.load_results)."""
    from benchlab.results.run_record import load_results as load

    return load(path)


def load_samples(path: Path | str) -> pd.DataFrame:
    """Return one row per timed inference of the run(s) at `path` (see benchlab.results.run_record.load_samples)."""
    from benchlab.results.run_record import load_samples as load

    return load(path)
