"""LiteRT (TFLite) flatbuffers: run by LiteRT on this machine, Android and iPhones, on CPU or a delegate."""

from __future__ import annotations

from pathlib import Path

from benchlab.formats.base import ModelFormat, prove_in_child
from benchlab.tensors import Feeds, ModelIO, describe_tflite

#: The flatbuffer file identifier, at bytes 4-8 of every .tflite.
TFLITE_IDENTIFIER = b"TFL3"


class TFLite(ModelFormat):
    """A .tflite flatbuffer: one regular file, described here with LiteRT's interpreter."""

    name = "tflite"
    title = "TFLite"
    suffix = ".tflite"
    accelerator_kinds = frozenset({"cpu", "gpu", "nnapi", "hexagon", "qnn"})
    app_platforms = frozenset({"android", "ios"})
    described_here = True

    def check_contents(self, path: Path) -> str | None:
        """Return "is not a TFLite flatbuffer ..." when the file lacks the TFL3 identifier, else None."""
        with open(path, "rb") as handle:
            if handle.read(8)[4:8] != TFLITE_IDENTIFIER:
                return "is not a TFLite flatbuffer (no TFL3 identifier)"
        return None

    def describe(self, path: Path) -> ModelIO:
        """Return the inputs and outputs by signature name (tensors not allocated); raises ValueError or
        RuntimeError for a file LiteRT cannot load."""
        return describe_tflite(path)

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        """Load, allocate and invoke the model once in LiteRT, in a child process (``python -m
        benchlab.litert_invoke MODEL SAMPLE.npz``); return "ran once in LiteRT <version>".

        Raises VariantDoesNotRun with LiteRT's message in one line, a crash's signal, or the timeout.
        """
        return prove_in_child(["benchlab.litert_invoke"], "LiteRT", path, sample)


FORMAT = TFLite()
