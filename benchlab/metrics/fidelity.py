"""Fidelity: how closely a variant's outputs follow its fp32 reference's on the same inputs.

Scored after execution (benchlab.results.accuracy); it needs no labels, so it is what judges a
model run on synthetic data. Not compared between runs: the accuracy budget of the pick and of
the compare gate reads it (top-1 agreement, the worst output's cosine).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchlab.metrics.base import Metric, number_text, present
from benchlab.records import Measurement


class Fidelity(Metric):
    """Top-1 agreement and errors against the reference; shown, never compared on its own."""

    name = "fidelity"
    label = "fidelity"
    unit = "%"
    better = "higher"
    position = 50
    terminal_cells = ("top-1 agree %", "min cos")

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the reference variant, top-1 agreement (0..1), errors and the worst output's cosine."""
        f = m.fidelity
        return {"fidelity_reference": f.reference_variant if f else None,
                "fidelity_top1_agreement": f.top1_agreement if f else None,
                "fidelity_max_abs_error": f.max_abs_error if f else None,
                "fidelity_mean_abs_error": f.mean_abs_error if f else None,
                "fidelity_worst_cosine": f.worst_cosine if f else None}

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return top-1 agreement in percent and the lowest cosine of any output."""
        agreement = row["fidelity_top1_agreement"]
        return {"top-1 agree %": number_text(float(agreement) * 100.0 if present(agreement) else None, 1),
                "min cos": number_text(row.get("fidelity_worst_cosine"), 4)}


METRIC = Fidelity()
