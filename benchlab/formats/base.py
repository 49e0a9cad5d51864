"""What a model format declares: the one interface every module of benchlab.formats implements."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import ClassVar

from benchlab.tensors import Feeds, ModelIO, save_feeds

#: How long one load and inference may take in a proof before a variant counts as hanging.
PROOF_TIMEOUT_SECONDS = 600


class VariantDoesNotRun(ValueError):
    """A built file does not load or run in its runtime; the message says why, in one line."""


class ModelFormat:
    """A format a variant is built in and a device runs (see benchlab.formats).

    A subclass sets the class attributes and overrides `check_contents` and `describe` as it needs.
    """

    #: The name recipes give as their FORMAT and devices list in `Capabilities.formats`.
    name: ClassVar[str]
    #: How errors and help name it: "TFLite", "Core ML".
    title: ClassVar[str]
    #: The file (or package directory) suffix, e.g. ".tflite".
    suffix: ClassVar[str]
    #: A package directory (an .mlpackage) rather than one regular file.
    is_directory: ClassVar[bool] = False
    #: A language model: its jobs are the scenario's `llm` matrix (prompt x generation lengths) and
    #: its figures tokens per second, not per-inference latency on data (benchlab.execute.executor).
    generative: ClassVar[bool] = False
    #: The accelerator kinds (as platforms declare them, benchlab.platforms) that run it: the plan pairs a
    #: variant only with the suite's accelerator settings of these kinds.
    accelerator_kinds: ClassVar[frozenset[str]]
    #: The platforms whose apps can bundle it ("android", "ios"): the delivery check weighs it
    #: against those stores' limits.
    app_platforms: ClassVar[frozenset[str]]
    #: Whether the plan fits the evaluation data to what `describe` reads (keyed by its input names,
    #: synthetic inputs made from its shapes). An .mlpackage's description is read by its runner
    #: when it sends a job, not by the plan: a flexible dimension (-1) gives no data a shape.
    described_here: ClassVar[bool] = False
    #: Why an accelerator setting with `xnnpack: false` does not apply to a file of this format (the
    #: delegates were chosen when it was built and its runtime has no switch), or None when the runtime
    #: can leave XNNPACK out (or never uses it): such jobs are "unsupported" with this line.
    xnnpack_fixed: ClassVar[str | None] = None
    #: The source kind (benchlab.plan.suite.ModelSpec.kind) a suite model in this format is, when it is
    #: not the format's own name: a .pt2 is a "torch" source, like a `module:` factory.
    source_kind: ClassVar[str | None] = None
    #: Where it runs, in one line, when no runner benchlab has can run it (Core AI: Apple's OS 27 only): a device
    #: that does not list the format says this rather than "not supported here".
    runs_only_on: ClassVar[str | None] = None

    def check_contents(self, path: Path) -> str | None:
        """Return why an existing file or directory is not a model of this format, or None when it is one."""
        return None

    def describe(self, path: Path) -> ModelIO:
        """Return the model's inputs and outputs as read on this machine.

        Raises ValueError (or RuntimeError) when the file is not a loadable model, and
        NotImplementedError for a format this machine cannot read.
        """
        raise NotImplementedError(f"a {self.suffix} model's inputs and outputs are read on the device")

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        """Run the model at `path` once on `sample` (one sample per input, batch first), or check as much
        of it as this machine can; return what was done, e.g. "ran once in LiteRT 2.3.0".

        A variant is reported built only after this returned. Raises VariantDoesNotRun with the
        runtime's reason in one line when the model does not load, allocate or run.
        """
        raise NotImplementedError(f"{self.title} models cannot be checked on this machine")

    def delivery_size(self, path: Path) -> int:
        """Return the bytes the model takes in an app download: deflated, as inside an APK or IPA."""
        return deflated_size(path)


def deflated_size(path: Path) -> int:
    """Return the bytes a file or package takes deflated inside a zip (as in an APK or IPA)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, arcname=file.name if file == path else str(file.relative_to(path)))
        return sum(info.compress_size for info in archive.infolist())


def prove_in_child(command: list[str], runtime: str, path: Path, sample: Feeds) -> str:
    """Run ``python -m <command...> MODEL SAMPLE.npz`` once, so a model that crashes or hangs its runtime
    costs that variant, never the build; the child prints one JSON line, {"runtime": version} or
    {"error": one line}. Return "ran once in <runtime> <version>".

    Raises VariantDoesNotRun with the runtime's message in one line, a crash's signal, or the timeout.
    """
    with tempfile.TemporaryDirectory(prefix="benchlab-proof-") as folder:
        feeds = Path(folder) / "sample.npz"
        save_feeds(feeds, sample)
        try:
            done = subprocess.run([sys.executable, "-m", *command, str(path), str(feeds)], capture_output=True,
                                  text=True, timeout=PROOF_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise VariantDoesNotRun(f"does not run in {runtime}: one inference did not finish in "
                                    f"{PROOF_TIMEOUT_SECONDS} s") from None
    if done.returncode < 0:
        raise VariantDoesNotRun(f"does not run in {runtime}: it crashed the runtime "
                                f"({signal.Signals(-done.returncode).name})")
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise VariantDoesNotRun(f"does not run in {runtime}: the check exited with {done.returncode}: {last}") from None
    if result.get("error"):
        raise VariantDoesNotRun(f"does not run in {runtime}: {result['error']}")
    return f"ran once in {runtime} {result['runtime']}"
