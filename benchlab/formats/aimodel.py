"""Apple Core AI model assets (.aimodel, iOS 27 / macOS 27): written on any machine, run only on Apple's.

An .aimodel is a directory: `main.mlirb` (the Core AI program as MLIR bytecode), `main.hash` (the
SHA-256 of that bytecode, written beside it) and `metadata.json` (producer, creation date). Apple's
`coreai-core` package reads one on Linux (its bytecode reader is native code in the wheel), but
loading it for inference (`coreai.runtime.AIModel`, `SpecializationOptions`) raises "only available
on macOS" off Apple's platforms. So on this machine a variant is checked, not run: the files, the
bytecode against its hash, the `main` function's inputs and outputs against the data, and the
constants' scalar types, all read back from the written package (`read_aimodel`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from benchlab.formats.base import ModelFormat, VariantDoesNotRun
from benchlab.tensors import Feeds

#: The entry point the converter writes and an app calls.
ENTRYPOINT = "main"
#: Why no machine here runs one, in one line (the host's refusal and the build's notes say it).
RUNS_ON = "Core AI runs on iOS 27 / macOS 27 only"
#: A tensor type as the asset's summary prints it: "NDArray (Float32, 1 × 3 × 96 × 96)".
_TENSOR_TYPE = re.compile(r"NDArray \((\w+), ([^)]*)\)")


@dataclass(frozen=True)
class AIModelTensor:
    """One input or output of the entry point, as the written bytecode declares it."""

    name: str
    #: Core AI's scalar type name ("Float32", "Int32").
    scalar: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class AIModelContents:
    """What a written .aimodel holds, read from its bytecode by coreai-core."""

    inputs: tuple[AIModelTensor, ...]
    outputs: tuple[AIModelTensor, ...]
    #: Scalar values stored in the program's constants (weights, biases, index tables), per Core AI type.
    stored_values: dict[str, int]
    #: The OS version the program needs ("27.0").
    minimum_os: str | None
    #: The tool that wrote it, from metadata.json ("coreai-core 1.0.0b3").
    producer: str
    bytecode_bytes: int


def read_aimodel(path: Path) -> AIModelContents:
    """Return what the .aimodel at `path` holds, read with coreai-core (no inference: that needs macOS).

    Raises ValueError when the package is incomplete, its bytecode differs from its recorded hash,
    coreai-core cannot read it, or it has no `main` entry point; ImportError without coreai-core.
    """
    from coreai.authoring import AIModelAsset

    problem = FORMAT.check_contents(path)
    if problem:
        raise ValueError(f"the written package {problem}")
    bytecode = (path / "main.mlirb").read_bytes()
    if hashlib.sha256(bytecode).digest() != (path / "main.hash").read_bytes():
        raise ValueError("main.mlirb does not match the SHA-256 in main.hash (a damaged or partly written package)")
    try:
        asset = AIModelAsset.load(path)
        summary = asset.summary(include_statistics=True)
    except RuntimeError as exc:
        raise ValueError(f"coreai-core cannot read it: {' '.join(str(exc).split())[:300]}") from None
    if summary is None or ENTRYPOINT not in summary.function_names:
        found = ", ".join(summary.function_names) if summary is not None else "no program"
        raise ValueError(f"it has no {ENTRYPOINT!r} function ({found})")
    return AIModelContents(
        inputs=tuple(_tensor(name, kind) for name, kind in summary.function_inputs(ENTRYPOINT)),
        outputs=tuple(_tensor(name, kind) for name, kind in summary.function_outputs(ENTRYPOINT)),
        # coreai-core exposes the OS a program needs and the producer only under these names (no public ones yet).
        stored_values=dict(summary.storage_types), minimum_os=summary._compatibility_version,  # noqa: SLF001
        producer=asset.metadata._producer, bytecode_bytes=len(bytecode))  # noqa: SLF001


def _tensor(name: str, kind: str) -> AIModelTensor:
    """Return a tensor from the summary's "NDArray (Float32, 1 × 10)"; raises ValueError for another kind."""
    match = _TENSOR_TYPE.fullmatch(kind)
    if match is None:
        raise ValueError(f"{name!r} is a {kind}, not a tensor benchlab can feed")
    dims = match.group(2).replace("×", " ").split()
    if not all(d.isdigit() for d in dims):
        raise ValueError(f"{name!r} has a dynamic shape ({match.group(2)}); benchlab converts at fixed shapes")
    return AIModelTensor(name=name, scalar=match.group(1), shape=tuple(int(d) for d in dims))


class AIModel(ModelFormat):
    """A Core AI .aimodel package directory, checked on this machine and run by Apple's OS only."""

    name = "aimodel"
    title = "Core AI"
    suffix = ".aimodel"
    is_directory = True
    # Core AI places work on the CPU, GPU or Neural Engine as Core ML does: the suite's Apple compute-unit
    # settings (kind "coreml") are the ones an app would choose between.
    accelerator_kinds = frozenset({"coreml"})
    app_platforms = frozenset({"ios"})
    runs_only_on = RUNS_ON

    def check_contents(self, path: Path) -> str | None:
        """Return why the path is not an .aimodel (a directory with main.mlirb, main.hash and metadata.json)."""
        missing = [name for name in ("main.mlirb", "main.hash", "metadata.json") if not (path / name).is_file()]
        if missing:
            return (f"is not a Core AI .aimodel (a directory with main.mlirb, main.hash, metadata.json; "
                    f"{', '.join(missing)} missing)")
        return None

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        """Check the package as far as this machine can (it never runs it: `RUNS_ON`): the bytecode against
        its hash, read by coreai-core; the `main` function's inputs against the data by name, shape and kind
        (an int64 input of the data may be Int32 in the program: the app narrows it); return what was checked.

        Raises VariantDoesNotRun naming what does not fit.
        """
        try:
            contents = read_aimodel(path)
        except (ValueError, ImportError) as exc:
            raise VariantDoesNotRun(f"Core AI cannot read it: {exc}") from None
        declared = {tensor.name: tensor for tensor in contents.inputs}
        if set(declared) != set(sample):
            raise VariantDoesNotRun(f"its main function takes {sorted(declared)}; the data has {sorted(sample)}")
        for name, values in sample.items():
            tensor = declared[name]
            integer_data = values.dtype.kind in "iub"
            if tensor.shape != values.shape or integer_data != (tensor.scalar not in ("Float32", "Float16")):
                raise VariantDoesNotRun(f"input {name!r} is {tensor.scalar} {list(tensor.shape)}; the data is "
                                        f"{values.dtype} {list(values.shape)}")
        return (f"checked, not run ({RUNS_ON}): bytecode matches main.hash, read by {contents.producer}; "
                f"main takes {', '.join(_spelled(t) for t in contents.inputs)} and returns "
                f"{', '.join(_spelled(t) for t in contents.outputs)}")


def _spelled(tensor: AIModelTensor) -> str:
    """Return "image Float32[1, 3, 96, 96]"."""
    return f"{tensor.name} {tensor.scalar}{list(tensor.shape)}"


FORMAT = AIModel()
