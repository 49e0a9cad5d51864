"""An ExecuTorch language model (.etlm: model.pte + tokenizer) on an Android phone: one repeat of an LLM cell
with ExecuTorch's `llama_main` (user-built, `benchlab tools add android llama_main PATH`) from adb shell.

The program and the tokenizer are pushed as two files named by their bytes; each repeat is one
`llama_main` process (android_runner.llama_main: the command and its `PyTorchObserver` line), its
figures those of the host's ExecuTorch engine (benchlab.llm_bench.observer_figures), the token
counts checked against the cell. `warm` runs the cell once untimed first (the page cache holds the
program), as the host does; `cold` does not. TTFT is engine `llama_main`'s.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from android_runner import llama_main
from android_runner.job_phone import JobPhone
from android_runner.tools import llama_main_binary, sha256_file
from android_runner.transport import DeviceTimeout
from benchlab.errors import DeviceError, DeviceLost, RunnerError
from benchlab.execute.failures import failure_cause
from benchlab.llm_bench import LlmRunFailed, exact_prompt, llm_metric_values, observer_figures
from benchlab.records import Job, Measurement, now_iso


def bundle_files(bundle: Path) -> tuple[Path, Path]:
    """Return an .etlm bundle's program and tokenizer files (what a phone is given)."""
    from benchlab.formats.etlm import PROGRAM, tokenizer_of

    tokenizer = tokenizer_of(bundle)
    if tokenizer is None:
        raise DeviceError(f"{bundle} holds no tokenizer")
    return bundle / PROGRAM, tokenizer


def run(device: JobPhone, job: Job) -> Measurement:
    """Run one repeat of an .etlm job's cell; a failure is a failed Measurement with one line."""
    llm = job.scenario.llm
    assert llm.cell is not None, "an LLM job is planned with its cell (benchlab.execute.executor)"
    base = Measurement(job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant,
                       device=device.info, accelerator=job.accelerator, status="ok", started_at=now_iso(),
                       runner=llama_main.BINARY_NAME, flags=(f"llm-cache-{llm.cache}",))
    program, tokenizer = bundle_files(Path(str(job.variant.path)))
    binary_remote = device._remote(llama_main.BINARY_NAME)
    program_remote, tokenizer_remote = device._model_remote(program), device._model_remote(tokenizer)
    try:
        prompt = exact_prompt(str(tokenizer), llm.cell.prefill)
    except (LlmRunFailed, ValueError, OSError) as exc:  # tokenizers cannot read a tokenizer.model
        return replace(base, status="failed", error=f"no prompt of exactly {llm.cell.prefill} tokens: {exc}",
                       failure_cause="model", finished_at=now_iso())
    command = llama_main.run_command(binary_remote, program_remote, tokenizer_remote, prompt, job)
    try:
        binary = llama_main_binary(device.facts.abi)  # ToolMissing until the user adds one
        base = replace(base, runner_version=sha256_file(binary), conditions_before=device.conditions())
        device._ensure(binary, binary_remote, executable=True)
        device._keep_fresh()
        device._use(program, program_remote)
        device._use(tokenizer, tokenizer_remote)
        if llm.cache == "warm":
            device._shell(command, timeout_s=job.scenario.timeout_seconds)
        result = device._shell(command, timeout_s=job.scenario.timeout_seconds)
    except DeviceTimeout as exc:
        device._shell(f"pkill -9 -f {llama_main.BINARY_NAME}; true")  # a hung run must not heat the next job
        return replace(base, status="failed", error=f"{exc} (llama_main killed)", failure_cause=failure_cause(exc),
                       finished_at=now_iso())
    except DeviceLost:
        raise
    except (DeviceError, RunnerError) as exc:  # RunnerError: ToolMissing, no llama_main here (a "harness" cause)
        return replace(base, status="failed", error=str(exc), failure_cause=failure_cause(exc), finished_at=now_iso())
    stats = llama_main.parse_output(result.output)
    error = None
    if result.exit_code != 0 or stats is None:
        last = [line for line in result.output.splitlines() if line.strip()][-1:] or ["no output"]
        error = f"llama_main exited with {result.exit_code}: {last[0][:300]}"
    else:
        try:
            figures = observer_figures(stats)
        except KeyError as missing:
            error = f"llama_main printed stats without {missing}"
        else:
            if (figures.prefill_tokens, figures.decode_tokens) != (llm.cell.prefill, llm.cell.decode):
                error = (f"llama_main ran {figures.prefill_tokens} prefill and {figures.decode_tokens} decode tokens, "
                         f"not the {llm.cell.prefill} and {llm.cell.decode} asked for (an EOS the model emitted, or "
                         "a context shorter than the cell)")
    if error is not None:
        return replace(base, status="failed", error=error, runner_output=result.output, finished_at=now_iso())
    values = llm_metric_values(figures.prefill_tps, figures.decode_tps, figures.ttft_s, figures.prefill_tokens,
                               figures.decode_tokens)
    return replace(base, runner_output=result.output, init_us=figures.init_s * 1e6, metric_values=values,
                   conditions_after=device.conditions(), finished_at=now_iso())
