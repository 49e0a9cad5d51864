"""What a model format declares: the one interface every module of benchlab.formats implements."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import ClassVar

from benchlab.tensors import Feeds, ModelIO


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
    #: The accelerator kinds (benchlab.records.ACCELERATOR_KINDS) that run it: the plan pairs a
    #: variant only with the suite's accelerator settings of these kinds.
    accelerator_kinds: ClassVar[frozenset[str]]
    #: The platforms whose apps can bundle it ("android", "ios"): the delivery check weighs it
    #: against those stores' limits.
    app_platforms: ClassVar[frozenset[str]]
    #: Whether `describe` reads its inputs and outputs on this machine (else the device reads them).
    described_here: ClassVar[bool] = False

    def check_contents(self, path: Path) -> str | None:
        """Return why an existing file or directory is not a model of this format, or None when it is one."""
        return None

    def describe(self, path: Path) -> ModelIO:
        """Return the model's inputs and outputs as read on this machine.

        Raises ValueError (or RuntimeError) when the file is not a loadable model, and
        NotImplementedError for a format this machine cannot read (`described_here` False).
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
