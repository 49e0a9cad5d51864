"""`benchlab check`: what in a run should not be trusted, its iteration outliers and each row's noise floor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchlab.decide.check import CheckWarning, check_run, outlier_summary
from benchlab.nightly.noise import floors_for_run
from benchlab.results.history import resolve_run
from benchlab.results.run_record import RunRecord


@dataclass(frozen=True)
class CheckReport:
    """What check found in one run."""

    run_dir: Path
    #: Unstable rows, few samples, thermal state, delegate fallback, coverage (benchlab.decide.check).
    warnings: tuple[CheckWarning, ...]
    #: The run's iteration outliers in one line (reported, never a warning).
    outliers: str
    #: Each (model, variant, device_id, accelerator) row's noise floor in percent, from the suite's
    #: earlier runs and calibration; rows without one are left out.
    floors: dict[tuple[str, str, str, str], float]


def check(run: str, results_root: Path) -> CheckReport:
    """Check run `run` (a directory, or a run id under `results_root`).

    Raises StoreError for a run that does not exist or cannot be read.
    """
    run_dir = resolve_run(run, results_root)
    record = RunRecord.load(run_dir)
    return CheckReport(run_dir, tuple(check_run(record)), outlier_summary(record),
                       floors_for_run(run_dir, results_root))
