"""Run modes side by side: a job measured in two of its platform's run modes, medians and ratio.

A platform may measure a job more than one way (Android: benchmark_model from ``adb shell``, or
LiteRT's benchmark APK as a foreground app, which LiteRT's docs warn is scheduled differently). When
a suite asks for several (``scenario.android_mode: both``), each (variant, device, accelerator) ran
once per mode in the same interleaved rounds: in the platform's default mode under its accelerator's
name, in another mode under NAME@MODE (benchlab.records.run_mode_setting). This view pairs each row
of a non-default mode with its default-mode twin and puts their medians and the ratio next to each
other; a pair where either side did not measure is left out. The modes, their order and the words
come from the platforms' declarations (benchlab.platforms), so the view names none.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING

from benchlab.platforms import Platforms, RunMode, registered
from benchlab.records import run_mode_setting

if TYPE_CHECKING:
    import pandas as pd

KEYS = ["model", "variant", "device_id"]


def run_mode_rows(df: pd.DataFrame, default: RunMode, mode: RunMode) -> list[dict[str, str]]:
    """Return one row per (model, variant, device, accelerator) measured with status ok both in
    `default` (a platform's default run mode) and in its other mode `mode`: model, variant, device,
    accelerator, each mode's median ms and their ratio (MODE / DEFAULT); [] when none."""
    ok = df[(df["status"] == "ok") & df["latency_ms_median"].notna()]
    suffix = run_mode_setting("", mode.name)
    in_mode = ok[ok["accelerator"].str.endswith(suffix)]
    in_mode = in_mode.assign(default_accelerator=in_mode["accelerator"].str[: -len(suffix)])
    # Its twin is the row named NAME: a job is planned in one mode, so no NAME is itself NAME@OTHER.
    pairs = in_mode.merge(ok, left_on=[*KEYS, "default_accelerator"], right_on=[*KEYS, "accelerator"],
                          suffixes=("_mode", "_default"))
    rows = []
    for _, r in pairs.sort_values([*KEYS, "default_accelerator"]).iterrows():
        default_ms, mode_ms = float(r["latency_ms_median_default"]), float(r["latency_ms_median_mode"])
        rows.append({"model": r["model"], "variant": r["variant"], "device": r["device_id"],
                     "accelerator": r["default_accelerator"], f"{default.name} median ms": f"{default_ms:.3f}",
                     f"{mode.name} median ms": f"{mode_ms:.3f}",
                     f"{mode.name} / {default.name}": f"{mode_ms / default_ms:.2f}×"})
    return rows


def run_modes_section(df: pd.DataFrame, table: Callable[[list[dict[str, str]]], str],
                      platforms: Platforms | None = None) -> str:
    """Return the report's sections setting run modes side by side ("Shell vs app"), one per run mode
    other than its platform's default that measured a job both ways, its rows rendered by `table`;
    "" when none did. `platforms` defaults to the registered declarations."""
    sections = []
    for platform in (platforms or registered()).declared:
        for mode in platform.run_modes[1:]:
            default = platform.run_modes[0]
            if not (rows := run_mode_rows(df, default, mode)):
                continue
            heading = f"{default.name[:1].upper()}{default.name[1:]} vs {mode.name}"
            note = (f"Jobs of {platform.name} devices measured both ways in the same rounds: {default.description}, "
                    f"and {mode.description} (rows named ACCELERATOR{run_mode_setting('', mode.name)}). Medians "
                    f"of the repeat medians; above 1× the {mode.name} mode was slower.")
            sections.append(f"<h2>{html.escape(heading)}</h2>\n<p class=\"note\">{html.escape(note, quote=False)}</p>\n"
                            + table(rows))
    return "\n".join(sections)
