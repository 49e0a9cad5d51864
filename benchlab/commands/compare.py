"""`benchlab compare`: a candidate run against a baseline run, with the CI files written where asked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchlab.nightly.ci_outputs import write_outputs
from benchlab.nightly.compare import CompareResult
from benchlab.pipeline import compare_with_baseline
from benchlab.results.history import resolve_run


@dataclass(frozen=True)
class Compared:
    """A comparison and the CI files written from it."""

    result: CompareResult
    written: tuple[Path, ...]


def compare(baseline: str, candidate: str, results_root: Path, overrides: Mapping[str, float] | None = None,
            absolute_accuracy_gate: bool | None = None, junit: Path | None = None, json_path: Path | None = None,
            markdown: Path | None = None) -> Compared:
    """Compare run `candidate` with run `baseline` (each a directory or a run id under `results_root`)
    as benchlab.pipeline.compare_with_baseline does, with `overrides` of the candidate suite's
    thresholds; write the JUnit XML, JSON summary and Markdown comment that have a path.

    Raises StoreError for a run that does not exist; what write_outputs raises for the files.
    """
    result = compare_with_baseline(resolve_run(candidate, results_root), str(resolve_run(baseline, results_root)),
                                   results_root, overrides=overrides, absolute_accuracy_gate=absolute_accuracy_gate)
    return Compared(result, tuple(write_outputs(result, junit, json_path, markdown)))
