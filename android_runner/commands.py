"""Accelerator settings and scenarios as `benchmark_model` command lines.

Flag names are those of LiteRT's `benchmark_model` and its delegate registrar
(tensorflow/lite/tools/benchmark/README.md, tensorflow/lite/tools/delegates/README.md). Every value
is quoted for the device's /system/bin/sh, since model paths and delegate options come from users.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from benchlab.records import AcceleratorSetting, Scenario

#: Where benchlab keeps its files on a phone: /data/local/tmp is writable by the shell user and
#: executable, unlike /sdcard.
DEVICE_DIR = "/data/local/tmp/benchlab"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def accelerator_flags(accelerator: AcceleratorSetting) -> list[str]:
    """Return the benchmark_model flags of one accelerator setting.

    Raises ValueError for a kind benchmark_model has no flags for (Core ML runs on iPhones).
    """
    options = accelerator.options
    flags = [f"--num_threads={accelerator.threads or 1}"]
    if accelerator.kind == "cpu":
        if accelerator.xnnpack is not None:
            # Explicitly false makes the tool use TFLite's original kernels (README, XNNPACK section).
            flags.append(f"--use_xnnpack={_bool(accelerator.xnnpack)}")
    elif accelerator.kind == "gpu":
        flags += ["--use_gpu=true",
                  f"--gpu_precision_loss_allowed={_bool(options.get('precision_loss_allowed', True))}"]
        if "backend" in options:
            flags.append(f"--gpu_backend={options['backend']}")
    elif accelerator.kind == "nnapi":
        flags.append("--use_nnapi=true")
        if "accelerator_name" in options:
            flags.append(f"--nnapi_accelerator_name={options['accelerator_name']}")
        # CPU fallback off by default: a delegate that quietly runs on the CPU is the lie we hunt.
        flags.append(f"--disable_nnapi_cpu={_bool(options.get('disable_cpu', True))}")
        if options.get("allow_fp16"):
            flags.append("--nnapi_allow_fp16=true")
    elif accelerator.kind == "hexagon":
        flags += ["--use_hexagon=true", f"--hexagon_lib_path={options.get('lib_path', DEVICE_DIR)}"]
    elif accelerator.kind == "qnn":
        library = options.get("library", f"{DEVICE_DIR}/libQnnTFLiteDelegate.so")
        flags.append(f"--external_delegate_path={library}")
        delegate_options = {k: v for k, v in options.items() if k != "library"}
        if delegate_options:
            pairs = ";".join(f"{k}:{v}" for k, v in sorted(delegate_options.items()))
            flags.append(f"--external_delegate_options={pairs}")
    else:
        raise ValueError(f"benchmark_model cannot run accelerator kind {accelerator.kind!r}")
    if accelerator.kind != "cpu" and options.get("require_full_delegation"):
        flags.append("--require_full_delegation=true")
    return flags


def benchmark_command(binary: str, model: str, accelerator: AcceleratorSetting, scenario: Scenario,
                      cpu_mask: str | None) -> str:
    """Return the shell command that benchmarks `model` once (one repeat of the scenario)."""
    args = [
        binary, f"--graph={model}", *accelerator_flags(accelerator),
        f"--warmup_runs={scenario.warmup}", "--warmup_min_secs=0",
        f"--num_runs={scenario.iterations}", f"--min_secs={scenario.min_seconds:g}",
        f"--max_secs={scenario.max_seconds:g}", "--report_peak_memory_footprint=true",
    ]
    command = " ".join(shlex.quote(a) for a in args)
    # taskset pins the process to the big cores: benchmark_model's README names this as the way to
    # cut run-to-run variance on big.LITTLE phones.
    return f"taskset {cpu_mask} {command}" if cpu_mask else command


#: The name given to the model's input in --input_layer. The tool maps inputs by order and only
#: warns when names differ, so a plain name avoids escaping the ':' in exported names ("x:0").
EVAL_INPUT_NAME = "benchlab_input"


def eval_loop_command(binary: str, model: str, accelerator: AcceleratorSetting, workdir: str,
                      input_shape: Sequence[int], sample_bytes: int, count: int, cpu_mask: str | None) -> str:
    """Return a device-side shell loop running `count` evaluation samples through the model.

    Each sample is cut out of `inputs.bin` with dd, run once with the real binary's
    `--input_layer_value_files` and `--output_filepath` flags, and its output appended to
    `outputs.bin`, so one ADB round trip evaluates the whole set with the job's own accelerator.
    """
    run = [
        binary, f"--graph={model}", *accelerator_flags(accelerator), "--warmup_runs=0", "--warmup_min_secs=0",
        "--num_runs=1", "--min_secs=0", f"--input_layer={EVAL_INPUT_NAME}",
        f"--input_layer_shape={','.join(str(d) for d in input_shape)}",
        f"--input_layer_value_files={EVAL_INPUT_NAME}:{workdir}/in.bin",
        f"--output_filepath={workdir}/out.bin",
    ]
    command = " ".join(shlex.quote(a) for a in run)
    if cpu_mask:
        command = f"taskset {cpu_mask} {command}"
    w = shlex.quote(workdir)
    return (
        f"cd {w} && rm -f outputs.bin && i=0 && while [ $i -lt {count} ]; do "
        f"dd if=inputs.bin of=in.bin bs={sample_bytes} skip=$i count=1 2>/dev/null && "
        f"{command} >/dev/null 2>eval_error.txt || {{ tail -n 3 eval_error.txt; exit 1; }}; "
        f"cat out.bin >> outputs.bin && i=$((i+1)); done && echo BENCHLAB_EVAL_DONE"
    )
