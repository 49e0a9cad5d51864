"""Language models: the pp x tg table per variant and device, and decode speed against model size.

Each cell of a suite's `scenario.llm` matrix ran as its own job, named ACCELERATOR@ppP-tgD
(benchlab.execute.executor). This view puts a variant's cells back together, one row per prompt
length (pp) and one decode column per generation length (tg), as llama-bench and the ExecuTorch
tables print them: medians over repeats with their 95% CI, prefill tok/s, TTFT (with the engine
that timed it: engines time it differently) and peak memory. The plot shows each variant's median
decode tok/s against its file size, per device and accelerator, the fastest prompt length's value
being the row's decode figure at the longest generation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.metrics.base import number_text, present
from benchlab.views.plotting import label_points, pyplot, save

if TYPE_CHECKING:
    import pandas as pd

#: What planning adds to an accelerator setting's name for one cell of the matrix.
CELL_SUFFIX = re.compile(r"@pp\d+-tg\d+$")
KEYS = ["model", "variant", "device_id", "setting"]


def llm_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Return the ok rows of language-model cells, with `setting` (the accelerator without its cell)."""
    if "llm_decode_tokens" not in df.columns:
        return df.iloc[0:0]
    ok = df[(df["status"] == "ok") & df["llm_decode_tokens"].notna()]
    return ok.assign(setting=ok["accelerator"].str.replace(CELL_SUFFIX, "", regex=True))


def _with_ci(row: pd.Series, column: str) -> str:
    low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
    ci = f" [{low:.1f}–{high:.1f}]" if present(low) and present(high) else ""
    return f"{number_text(row[column], 1)}{ci}"


def matrix_rows(df: pd.DataFrame) -> list[dict[str, str]]:
    """Return one row per (model, variant, device, accelerator, prompt length): prefill tok/s, decode tok/s
    per generation length (median [95% CI] over repeats), TTFT ms with its engine, peak MB; [] without LLM rows."""
    cells = llm_rows(df)
    rows = []
    for (model, variant, device, setting), group in cells.groupby(KEYS, sort=True):
        for pp, by_pp in group.groupby("llm_prefill_tokens", sort=True):
            row = {"model": model, "variant": variant, "device": device, "accelerator": setting,
                   "engine": str(by_pp["runner"].iloc[0]), "pp": str(int(pp)),
                   "prefill tok/s": _with_ci(by_pp.iloc[0], "prefill_tps")}
            for _, cell in by_pp.sort_values("llm_decode_tokens").iterrows():
                row[f"tg{int(cell['llm_decode_tokens'])} decode tok/s"] = _with_ci(cell, "decode_tps")
            first = by_pp.iloc[0]
            row["TTFT ms"] = number_text(first["ttft_ms"], 1)
            row["peak MB"] = number_text(by_pp["peak_memory_mb"].max(), 1)
            row["repeats"] = str(int(by_pp["decode_tps_repeats"].min()))
            rows.append(row)
    return rows


def plot_decode_vs_size(df: pd.DataFrame, path: Path) -> Path | None:
    """Plot median decode tok/s (longest generation, shortest prompt) against file size per variant, one
    panel per (device, accelerator); None when the run has no LLM rows."""
    cells = llm_rows(df)
    if cells.empty:
        return None
    plt = pyplot()
    longest = cells[cells["llm_decode_tokens"] == cells.groupby(KEYS)["llm_decode_tokens"].transform("max")]
    chosen = longest[longest["llm_prefill_tokens"] == longest.groupby(KEYS)["llm_prefill_tokens"].transform("min")]
    panels = list(chosen.groupby(["device_id", "setting"]))[:6]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, ((device, setting), group) in zip(axes[0], panels):
        size_mb = group["size_bytes"].astype(float) / 1e6
        speed = group["decode_tps"].astype(float)
        ax.scatter(size_mb, speed, s=60, edgecolors="black", zorder=3)
        ax.set_xlabel("model file size (MB)")
        ax.set_ylabel("decode tokens/s (median over repeats)")
        ax.set_title(f"{device} · {setting}", fontsize=9)
        ax.grid(alpha=0.3)
        label_points(ax, list(zip(size_mb, speed)),
                     [f"{r['model']}/{r['variant']} pp{int(r['llm_prefill_tokens'])}-tg{int(r['llm_decode_tokens'])}"
                      for _, r in group.iterrows()])
    return save(fig, path, dpi=110, bbox_inches="tight")


def llm_section(df: pd.DataFrame, table: Callable[[list[dict[str, str]]], str], plot: str) -> str:
    """Return the report's language-model section (table rendered by `table`, `plot` an <img> or ""),
    or "" when the run measured no language model."""
    rows = matrix_rows(df)
    if not rows:
        return ""
    return ("<h2>Language models: prompt × generation</h2>\n<p class=\"note\">One row per prompt length (pp) "
            "and one decode column per generation length (tg): medians over repeats, [95% CI] from order "
            "statistics with at least 6 repeats. Exact token counts (a run a stop token ended early fails its cell). Prefill tok/s is from the pp "
            "row's first tg cell. TTFT is labelled by engine: LiteRT-LM times it from its prefill and first decode "
            "step, ExecuTorch from the start of generate (tokenization inside); never compare it across engines. "
            "Peak MB is the runner process's resident high-water mark.</p>\n" + table(rows) + "\n" + plot)
