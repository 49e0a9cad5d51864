"""`benchlab ab`: two models or variants measured interleaved in one run, compared round by round."""

from __future__ import annotations

from pathlib import Path

from benchlab.nightly.ab import AbResult, ab_compare
from benchlab.results.history import resolve_run
from benchlab.results.run_record import RunRecord


def ab(run: str, results_root: Path, baseline: str, candidate: str) -> AbResult:
    """Compare `candidate` with `baseline` ("MODEL" or "MODEL/VARIANT") in run `run` (a directory, or a
    run id under `results_root`), pairwise by interleaved round (benchlab.nightly.ab).

    Raises StoreError for a run that does not exist; UsageError for a selection that names nothing measured.
    """
    return ab_compare(RunRecord.load(resolve_run(run, results_root)), baseline, candidate)
