"""LiteRT (TFLite) flatbuffers: run by LiteRT on this machine, Android and iPhones, on CPU or a delegate."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlab.formats.base import ModelFormat, VariantDoesNotRun
from benchlab.tensors import Feeds, ModelIO, describe_tflite, save_feeds

#: The flatbuffer file identifier, at bytes 4-8 of every .tflite.
TFLITE_IDENTIFIER = b"TFL3"
#: How long one load and inference may take before a variant counts as hanging.
PROOF_TIMEOUT_SECONDS = 600


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
        benchlab.litert_invoke MODEL SAMPLE.npz``) so a model that crashes or hangs the runtime costs
        that variant, never the build; return "ran once in LiteRT <version>".

        Raises VariantDoesNotRun with LiteRT's message in one line, a crash's signal, or the timeout.
        """
        with tempfile.TemporaryDirectory(prefix="benchlab-proof-") as folder:
            feeds = Path(folder) / "sample.npz"
            save_feeds(feeds, sample)
            try:
                done = subprocess.run([sys.executable, "-m", "benchlab.litert_invoke", str(path), str(feeds)],
                                      capture_output=True, text=True, timeout=PROOF_TIMEOUT_SECONDS, check=False)
            except subprocess.TimeoutExpired:
                raise VariantDoesNotRun(f"does not run in LiteRT: one inference did not finish in "
                                        f"{PROOF_TIMEOUT_SECONDS} s") from None
        if done.returncode < 0:
            raise VariantDoesNotRun(f"does not run in LiteRT: it crashed the runtime "
                                    f"({signal.Signals(-done.returncode).name})")
        try:
            result = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise VariantDoesNotRun(f"does not run in LiteRT: the check exited with {done.returncode}: {last}") from None
        if result.get("error"):
            raise VariantDoesNotRun(f"does not run in LiteRT: {result['error']}")
        return f"ran once in LiteRT {result['runtime']}"


FORMAT = TFLite()
