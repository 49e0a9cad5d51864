"""Accelerator settings and scenarios as `benchmark_model` command lines.

Flag names are those of LiteRT's `benchmark_model` and its delegate registrar
(tensorflow/lite/tools/benchmark/README.md, tensorflow/lite/tools/delegates/README.md). Every value
is quoted for the device's /system/bin/sh, since model paths and delegate options come from users.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

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


def _pinned(command: str, cpu_mask: str | None) -> str:
    # taskset pins the process to the big cores: benchmark_model's README names this as the way to
    # cut run-to-run variance on big.LITTLE phones.
    return f"taskset {cpu_mask} {command}" if cpu_mask else command


def _marker_flag(marker: str) -> str:
    # --benchmark_name is a real flag that only labels the run: it puts the job's id on the
    # process's command line so kill_command can find exactly this job's processes.
    return f"--benchmark_name={marker}"


def benchmark_command(binary: str, model: str, accelerator: AcceleratorSetting, scenario: Scenario,
                      cpu_mask: str | None, marker: str = "benchlab", inputs: Sequence[SampleFile] = ()) -> str:
    """Return the shell command that benchmarks `model` once (one repeat of the scenario).

    With `inputs` (one per model input, in model order) every run feeds that sample, resized to
    its shape (`sample_flags`); without, the tool makes up random values of the model's shapes.
    """
    args = [
        binary, f"--graph={model}", *accelerator_flags(accelerator),
        f"--warmup_runs={scenario.warmup}", "--warmup_min_secs=0",
        f"--num_runs={scenario.iterations}", f"--min_secs={scenario.min_seconds:g}",
        f"--max_secs={scenario.max_seconds:g}", "--report_peak_memory_footprint=true", *sample_flags(inputs),
        _marker_flag(marker),
    ]
    return _pinned(" ".join(shlex.quote(a) for a in args), cpu_mask)


def op_profile_command(binary: str, model: str, accelerator: AcceleratorSetting, runs: int,
                       cpu_mask: str | None, marker: str = "benchlab", inputs: Sequence[SampleFile] = ()) -> str:
    """Return the shell command of the op-profiling pass: `runs` iterations of `model` with
    ``--enable_op_profiling`` (the per-op tables go to stdout), one warmup and no minimum time,
    since its times only split one inference into ops and never count as latency. `inputs` as
    in `benchmark_command`: the ops are split on the sample the timed runs feed."""
    args = [
        binary, f"--graph={model}", *accelerator_flags(accelerator), "--warmup_runs=1", "--warmup_min_secs=0",
        f"--num_runs={runs}", "--min_secs=0", "--enable_op_profiling=true", *sample_flags(inputs),
        _marker_flag(marker),
    ]
    return _pinned(" ".join(shlex.quote(a) for a in args), cpu_mask)


def kill_command(marker: str) -> str:
    """Return a shell command that SIGKILLs every process whose command line carries `marker`
    (the runner and the shell running it), and succeeds whether or not one was running.

    The pattern's first character is a bracket expression so it does not match the command line
    of the shell that runs pkill itself.
    """
    literal = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", _marker_flag(marker))  # POSIX ERE escapes
    pattern = "[-]" + literal[1:]
    return f"pkill -9 -f {shlex.quote(pattern)}; true"


@dataclass(frozen=True)
class EvalInput:
    """One model input of an on-device evaluation: its tensor name and one sample's shape and size.

    Its samples, in the tensor's dtype, lie back to back in `inputs-N.bin` in the workdir (N: the
    input's position in the model).
    """

    tensor_name: str
    #: One sample's shape as fed, batch dimension (1) included.
    sample_shape: tuple[int, ...]
    sample_bytes: int


def input_layer_names(names: Sequence[str]) -> list[str]:
    """Return the names to give benchmark_model's --input_layer, one per model input in order.

    The tool splits --input_layer at ',' with no escape, matches its entries to the model's inputs
    by position and only warns when a name differs; so a name with a ',' is given as
    ``benchlab_input_N`` (the value files then name it so too).
    """
    return [f"benchlab_input_{i}" if "," in name else name for i, name in enumerate(names)]


def value_file_item(name: str, path: str) -> str:
    """Return one ``name:path`` item of --input_layer_value_files.

    ':' separates name and path and tensor names often hold one ("serving_default_x:0"), so the
    tool reads '::' as a literal ':' (SplitInputLayerNameAndValueFile in benchmark_tflite_model.cc).
    """
    return f"{name.replace(':', '::')}:{path.replace(':', '::')}"


@dataclass(frozen=True)
class SampleFile:
    """One model input's first evaluation sample on the phone, which every timed run feeds: the
    input (tensor name, shape with batch 1) and the path of the file holding the sample's bytes
    in the tensor's dtype."""

    input: EvalInput
    path: str


def input_flags(inputs: Sequence[EvalInput], files: Sequence[str], batch: int = 1) -> list[str]:
    """Return --input_layer, --input_layer_shape and --input_layer_value_files for `batch`
    samples of every input (model order), each read from its file in `files`; [] for no inputs.

    ``--input_layer`` names the model's input tensors, ``--input_layer_shape`` resizes each one's
    batch dimension (1 for one sample) to `batch` (and dynamic dimensions to the data's), and each
    value file must then hold exactly `batch` samples of its input.
    """
    if not inputs:
        return []
    names = input_layer_names([i.tensor_name for i in inputs])
    shapes = [[batch * int(i.sample_shape[0]), *(int(d) for d in i.sample_shape[1:])] for i in inputs]
    return [
        f"--input_layer={','.join(names)}",
        f"--input_layer_shape={':'.join(','.join(str(d) for d in shape) for shape in shapes)}",
        f"--input_layer_value_files={','.join(value_file_item(n, f) for n, f in zip(names, files))}",
    ]


def sample_flags(inputs: Sequence[SampleFile]) -> list[str]:
    """Return the flags that feed one sample of every input from its file (`input_flags`)."""
    return input_flags([s.input for s in inputs], [s.path for s in inputs])


def eval_chunk_command(binary: str, model: str, accelerator: AcceleratorSetting, workdir: str,
                       inputs: Sequence[EvalInput], first: int, count: int, output: str,
                       cpu_mask: str | None, marker: str) -> str:
    """Return a device-side command that runs samples [first, first+count) of every input's
    `inputs-N.bin` in `workdir` through the model in ONE benchmark_model process, appending the
    outputs to `output`.

    Each input's samples are cut out with dd into `in-N.bin` and fed as a batch of `count`
    (`input_flags`).
    ``--output_filepath`` (LiteRT 2.12+) writes the last run's outputs as raw bytes, every output in
    the model's output order. Paths are relative to `workdir` (the command runs there), so no ',' or
    ':' of a job's folder reaches the flags. The folder is touched first: a live evaluation keeps
    it fresh, so another session's sweep of idle folders leaves it alone. On failure the tool's
    last lines are printed and the command exits 1.
    """
    run = [
        binary, f"--graph={model}", *accelerator_flags(accelerator), "--warmup_runs=0", "--warmup_min_secs=0",
        "--num_runs=1", "--min_secs=0", *input_flags(inputs, [f"in-{k}.bin" for k in range(len(inputs))], count),
        "--output_filepath=out.bin", _marker_flag(marker),
    ]
    command = _pinned(" ".join(shlex.quote(a) for a in run), cpu_mask)
    cuts = " && ".join(f"dd if=inputs-{k}.bin of=in-{k}.bin bs={i.sample_bytes} skip={first} count={count} 2>/dev/null"
                       for k, i in enumerate(inputs))
    # A subshell, so `exit 1` ends only it and a wrapper's `; echo $?` still reports the status.
    return (
        f"( cd {shlex.quote(workdir)} && touch . && rm -f out.bin && {cuts} && "
        f"{{ {command} >run.log 2>&1 || {{ tail -n 8 run.log; exit 1; }}; }} && "
        f"cat out.bin >> {shlex.quote(output)} )"
    )
