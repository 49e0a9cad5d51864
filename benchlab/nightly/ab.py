"""A/B within one run: two models or variants of the same run compared round by round, per device and
accelerator (`benchlab ab`).

The repeats of all jobs ran interleaved, so each round of the two jobs shares the device's state at
that moment; the change is the paired one of benchlab.results.within_run, held to the run's suite's
latency threshold. This module returns the rows; the CLI prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchlab.decide.pick import round_values
from benchlab.errors import EXIT_GATE_FAILED, EXIT_OK, UsageError
from benchlab.results.run_record import RunRecord
from benchlab.results.within_run import PairedChange, paired_change


@dataclass(frozen=True)
class AbRow:
    """One (device, accelerator) where both sides were measured, and the candidate's paired change."""

    device_id: str
    accelerator: str
    change: PairedChange


@dataclass(frozen=True)
class AbResult:
    """The A/B comparison of two selections of one run."""

    run_id: str
    rows: tuple[AbRow, ...]

    @property
    def verdict(self) -> int:
        """EXIT_GATE_FAILED when the candidate is significantly slower anywhere, else EXIT_OK."""
        return EXIT_GATE_FAILED if any(r.change.verdict == "regression" for r in self.rows) else EXIT_OK


def _jobs(record: RunRecord, selector: str) -> dict[tuple[str, str], str]:
    """Return the job of each (device, accelerator) that "MODEL" or "MODEL/VARIANT" names; raises
    UsageError naming what was measured when it names nothing, or a model of several variants."""
    results = record.results
    known = ", ".join(sorted(set(results["model"] + "/" + results["variant"])))
    model, _, variant = selector.partition("/")
    rows = results[results["model"] == model]
    if variant:
        rows = rows[rows["variant"] == variant]
    elif rows["variant"].nunique() > 1:
        raise UsageError(f"{selector!r} has several variants in {record.run_id}: name one as MODEL/VARIANT "
                         f"(measured: {known})")
    if rows.empty:
        raise UsageError(f"{selector!r} names nothing measured in {record.run_id} (measured: {known})")
    return {(r.device_id, r.accelerator): r.job_id for r in rows.itertuples()}


def ab_compare(record: RunRecord, baseline: str, candidate: str) -> AbResult:
    """Compare the candidate selection ("MODEL" or "MODEL/VARIANT") of a run with the baseline one,
    round by round, on every (device, accelerator) both were measured on. Raises UsageError for a
    selection that names nothing measured, or a model of several variants without one named."""
    threshold = record.meta.suite.regression.latency_pct
    rounds = round_values(record.repeat_table)
    base, cand = _jobs(record, baseline), _jobs(record, candidate)
    return AbResult(record.run_id, tuple(
        AbRow(device, accelerator, paired_change(rounds.get(base[(device, accelerator)], {}),
                                                 rounds.get(cand[(device, accelerator)], {}), threshold))
        for device, accelerator in sorted(set(base) & set(cand))))
