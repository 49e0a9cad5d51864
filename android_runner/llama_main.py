"""ExecuTorch's `llama_main` on a phone: the command for one LLM cell and the stats line it prints.

`llama_main` (examples/models/llama/main.cpp in ExecuTorch, built with the NDK by the user and
added with `benchlab tools add android llama_main PATH`) generates once from `--prompt` with
`--seq_len` tokens in all (prompt + output) and `--temperature` (0: greedy), on `--cpu_threads`
threads, then prints its stats as one JSON line behind "PyTorchObserver " (stdout) and the same
figures as log lines (recorded public output in tests/android/public, with its source):

    PyTorchObserver {"prompt_tokens":54,"generated_tokens":36,"model_load_start_ms":1756473387815,
    "model_load_end_ms":1756473388715,"inference_start_ms":1756473389893,"inference_end_ms":1756473390702,
    "prompt_eval_end_ms":1756473390023,"first_token_ms":1756473390023,"aggregate_sampling_time_ms":22,
    "SCALING_FACTOR_UNITS_PER_SECOND":1000}

The JSON is the one read (the log lines round to ms in text); its figures are computed as on the host
(benchlab.llm_bench.observer_figures), so a phone's row and the host's mean the same. The prompt is
the host's: one word repeated, checked against the bundle's tokenizer.json to encode to exactly the
cell's prompt length; `--seq_len` asks for the cell's decode tokens + 1 new ones, since the runner
counts the token prefill produces apart from the decode steps (as the host asks), and the counts it
reports are checked by the caller. It prints RSS at three points ("RSS after loading model: X MiB"),
not a peak: no peak memory is reported for it.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from benchlab.records import Job

BINARY_NAME = "llama_main"
_OBSERVER = re.compile(r"PyTorchObserver\s+(\{.*?\})\s*$", re.MULTILINE)


def parse_output(text: str) -> dict[str, Any] | None:
    """Return the last `PyTorchObserver {json}` stats `llama_main` printed, None when it printed none."""
    found = _OBSERVER.findall(text)
    if not found:
        return None
    try:
        return json.loads(found[-1])
    except ValueError:  # a line cut off mid-way (a killed run)
        return None


def run_command(binary: str, model: str, tokenizer: str, prompt: str, job: Job) -> str:
    """Return the shell command that runs the job's LLM cell once with `prompt` (exactly the cell's
    prompt tokens), stdout and stderr together.

    Raises ValueError for a job planned without its cell.
    """
    llm = job.scenario.llm
    if llm.cell is None:
        raise ValueError("an LLM job is planned with its cell (benchlab.execute.executor)")
    flags = [f"--model_path={model}", f"--tokenizer_path={tokenizer}", f"--prompt={prompt}",
             f"--seq_len={llm.cell.prefill + llm.cell.decode + 1}", "--temperature=0",
             f"--cpu_threads={job.accelerator.threads or 1}"]
    return " ".join(shlex.quote(part) for part in (binary, *flags)) + " 2>&1"
