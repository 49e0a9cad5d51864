"""What benchlab knows of Android phones before finding one (benchlab.platforms): the accelerator
kinds benchmark_model runs and the options android_runner.commands reads of each, the formats a
phone runs, and its two run modes with the suite field that chooses them. Imports no device library:
the suite is validated with it before any phone is discovered.
"""

from __future__ import annotations

from benchlab.platforms import AcceleratorKind, ModeChoice, Platform, RunMode

#: The default run mode: benchmark_model (and every other runner) started from adb shell.
SHELL_MODE = "shell"
#: The run mode of LiteRT's benchmark APK as a foreground app.
APP_MODE = "app"
#: Their declarations; each description is how the report names the mode ("Shell vs app").
SHELL = RunMode(SHELL_MODE, description="benchmark_model started from adb shell")
#: The benchmark APK runs .tflite only: another format is measured from adb shell whatever the
#: scenario asks, named as a shell row.
APP = RunMode(APP_MODE, frozenset({"tflite"}), description="LiteRT's benchmark APK as a foreground app")
#: Every option a delegated kind takes: fail the job when the delegate leaves ops to the CPU.
_FULL_DELEGATION = "require_full_delegation"

ANDROID = Platform(
    name="android",
    accelerators=(
        AcceleratorKind("cpu"),
        AcceleratorKind("gpu", frozenset({"precision_loss_allowed", "backend", _FULL_DELEGATION})),
        AcceleratorKind("nnapi", frozenset({"accelerator_name", "disable_cpu", "allow_fp16", _FULL_DELEGATION})),
        AcceleratorKind("hexagon", frozenset({"lib_path", _FULL_DELEGATION})),
        # An external delegate (Qualcomm's QNN): its options go through to the library.
        AcceleratorKind("qnn", None),
    ),
    # .tflite by benchmark_model, ExecuTorch's .pte by executor_runner, language models by
    # litert_lm_main (.litertlm) and llama_main (.etlm).
    formats=frozenset({"tflite", "pte", "litertlm", "etlm"}),
    run_modes=(SHELL, APP),
    mode_choice=ModeChoice(
        field="android_mode",
        values=(("shell", (SHELL_MODE,)), ("app", (APP_MODE,)), ("both", (SHELL_MODE, APP_MODE))),
        description=f"how Android phones run the timed repeats: shell ({SHELL.description}), "
        f"app ({APP.description}; its rows are named ACCELERATOR@app) or both "
        "(each Android job measured both ways); evaluation and op profiling always use the shell binary"),
)
