"""LiteRT-LM's `litert_lm_main` on a phone: the benchmark command for one LLM cell and its printed figures.

`litert_lm_main --benchmark` prefills exactly `--benchmark_prefill_tokens` and decodes exactly
`--benchmark_decode_tokens` (unless a stop token ends it: the caller checks the counts), then prints its BenchmarkInfo; with
`--report_peak_memory_footprint` it adds the process's peak memory as its own memory monitor
reads it. The format, as printed (recorded text in tests/android/public, with its source):

    --------------------------------------------------
      Time to first token: 0.43 s
    --------------------------------------------------
      Prefill Turns (Total 1 turns):
        Prefill Turn 1: Processed 512 tokens in 399.049292ms duration.
          Prefill Speed: 1283.05 tokens/sec.
    --------------------------------------------------
      Decode Turns (Total 1 turns):
        Decode Turn 1: Processed 128 tokens in 4.037520542s duration.
          Decode Speed: 31.70 tokens/sec.
    --------------------------------------------------

and, from its source (`ABSL_LOG(INFO) << "Peak system ram usage: " << peak_mem_mb << "MB."`), a
log line ending in "Peak system ram usage: 1234.5MB.". The last turn is the cell's (one turn per
run here). Durations are printed as absl durations ("399.049292ms", "4.037520542s"); the token
counts are checked against the cell by the caller, like the host runners'.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from benchlab.records import Job

BINARY_NAME = "litert_lm_main"
_TTFT = re.compile(r"Time to first token:\s*([\d.]+)\s*s\b")
_TURN = re.compile(r"(Prefill|Decode) Turn \d+: Processed (\d+) tokens in ([\d.]+)(ns|us|µs|ms|s|m|h) duration\.")
_SPEED = re.compile(r"(Prefill|Decode) Speed:\s*([\d.]+) tokens/sec\.")
_PEAK = re.compile(r"Peak system ram usage:\s*([\d.]+)\s*MB")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class LitertLmOutput:
    """The figures of one `litert_lm_main --benchmark` run (the last turn of each kind)."""

    ttft_s: float
    prefill_tokens: int
    prefill_s: float
    prefill_tps: float
    decode_tokens: int
    decode_s: float
    decode_tps: float
    peak_mb: float | None


def parse_output(text: str) -> LitertLmOutput | None:
    """Return the figures `litert_lm_main --benchmark` printed, None when the text holds no benchmark result."""
    ttft = _TTFT.findall(text)
    turns = {kind: (int(count), float(value) * _UNIT_S[unit]) for kind, count, value, unit in _TURN.findall(text)}
    speeds = {kind: float(value) for kind, value in _SPEED.findall(text)}
    if not ttft or set(turns) != {"Prefill", "Decode"} or set(speeds) != {"Prefill", "Decode"}:
        return None
    peak = _PEAK.findall(text)
    return LitertLmOutput(
        ttft_s=float(ttft[-1]), prefill_tokens=turns["Prefill"][0], prefill_s=turns["Prefill"][1],
        prefill_tps=speeds["Prefill"], decode_tokens=turns["Decode"][0], decode_s=turns["Decode"][1],
        decode_tps=speeds["Decode"], peak_mb=float(peak[-1]) if peak else None,
    )


def benchmark_command(binary: str, model: str, job: Job, cache_dir: str) -> str:
    """Return the shell command that runs the job's LLM cell once (stderr is where it prints).

    Raises ValueError for a job planned without its cell.
    """
    llm = job.scenario.llm
    if llm.cell is None:
        raise ValueError("an LLM job is planned with its cell (benchlab.execute.executor)")
    backend = "gpu" if job.accelerator.kind == "gpu" else "cpu"
    flags = [f"--backend={backend}", f"--model_path={model}", "--benchmark",
             f"--benchmark_prefill_tokens={llm.cell.prefill}", f"--benchmark_decode_tokens={llm.cell.decode}",
             f"--max_num_tokens={llm.kv_cache}", "--report_peak_memory_footprint", f"--cache_dir={cache_dir}"]
    if backend == "cpu":
        flags.append(f"--num_cpu_threads={job.accelerator.threads or 1}")
    return " ".join(shlex.quote(part) for part in (binary, *flags))
