"""Shell vs app: an Android job measured both ways (``scenario.android_mode: both``), side by side.

LiteRT's docs warn that a binary started from ``adb shell`` is scheduled differently from a
foreground app. With ``both``, each Android (variant, device, accelerator) ran twice in the same
interleaved rounds: with the shell binary under its accelerator's name, and through the benchmark
APK under that name plus APP_SUFFIX (the name of a setting in Android's "app" run mode). This view pairs the two rows and puts their medians and
the ratio next to each other; a pair where either side did not measure is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from benchlab.records import run_mode_setting

if TYPE_CHECKING:
    import pandas as pd

KEYS = ["model", "variant", "device_id"]
#: What ends the accelerator name of a row measured through the benchmark APK: "cpu-t4@app".
APP_SUFFIX = run_mode_setting("", "app")


def shell_vs_app_rows(df: pd.DataFrame) -> list[dict[str, str]]:
    """Return one row per (model, variant, device, accelerator) measured both ways with status ok:
    model, variant, device, accelerator, shell and app median ms, and app / shell; [] when none."""
    ok = df[(df["status"] == "ok") & df["latency_ms_median"].notna()]
    is_app = ok["accelerator"].str.endswith(APP_SUFFIX)
    app = ok[is_app].assign(shell_accelerator=lambda d: d["accelerator"].str[: -len(APP_SUFFIX)])
    pairs = app.merge(ok[~is_app], left_on=[*KEYS, "shell_accelerator"], right_on=[*KEYS, "accelerator"],
                      suffixes=("_app", "_shell"))
    rows = []
    for _, r in pairs.sort_values([*KEYS, "shell_accelerator"]).iterrows():
        shell_ms, app_ms = float(r["latency_ms_median_shell"]), float(r["latency_ms_median_app"])
        rows.append({"model": r["model"], "variant": r["variant"], "device": r["device_id"],
                     "accelerator": r["shell_accelerator"], "shell median ms": f"{shell_ms:.3f}",
                     "app median ms": f"{app_ms:.3f}", "app / shell": f"{app_ms / shell_ms:.2f}×"})
    return rows


def shell_vs_app_section(df: pd.DataFrame, table: Callable[[list[dict[str, str]]], str]) -> str:
    """Return the report's "Shell vs app" section (its rows rendered by `table`), or "" when no
    job was measured both ways."""
    rows = shell_vs_app_rows(df)
    if not rows:
        return ""
    return ("<h2>Shell vs app</h2>\n<p class=\"note\">Android jobs measured both ways in the same rounds: "
            "benchmark_model started from adb shell, and LiteRT's benchmark APK as a foreground app (rows "
            f"named ACCELERATOR{APP_SUFFIX}). Medians of the repeat medians; above 1× the app was "
            "slower.</p>\n" + table(rows))
