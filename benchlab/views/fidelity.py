"""The per-output fidelity table: every output of every variant against its reference's.

A landmark model's heatmaps or a detector's boxes can drift while its class scores hold; this
table shows each output on its own line, so the report never hides a broken output behind a good one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def _fmt(value: object, pattern: str) -> str:
    return "" if value is None or value != value else pattern.format(float(value))  # noqa: PLR0124 - NaN check


def output_fidelity_rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Return display rows, one per (variant, device, accelerator, output) compared with a reference.

    The reference's own rows (a variant compared with itself) are left out: they say nothing.
    """
    rows = []
    compared = frame[frame["variant"] != frame["reference"]] if not frame.empty else frame
    for _, r in compared.sort_values(["model", "device_id", "accelerator", "variant"]).iterrows():
        rows.append({
            "model": r["model"], "variant": r["variant"], "where": f"{r['device_id']} · {r['accelerator']}",
            "output": r["name"], "vs": r["reference"], "max |err|": _fmt(r["max_abs_error"], "{:.4g}"),
            "mean |err|": _fmt(r["mean_abs_error"], "{:.4g}"), "cosine": _fmt(r["cosine"], "{:.5f}"),
            "SNR dB": _fmt(r["snr_db"], "{:.1f}") if r["snr_db"] == r["snr_db"] and r["snr_db"] is not None
            else "identical",  # noqa: PLR0124
            "top-1 agree %": _fmt(None if r["top1_agreement"] is None else 100.0 * r["top1_agreement"], "{:.1f}"),
        })
    return rows
