"""A variant is built only once it has run: loaded, allocated and invoked once on one sample.

A converter or quantizer can write a file that its runtime then refuses (a CONV_2D kernel with
asymmetric int8 weights fails to prepare), so a written file is not yet a variant. `prove_runs`
runs a .tflite in LiteRT in a child process (``python -m benchlab.optimize.proof MODEL SAMPLE.npz``),
so a model that crashes or hangs the runtime costs that variant, never the build; its message
comes back as one line and the variant fails with it. An .mlpackage cannot run off Apple's
platforms: here its spec is loaded and its inputs counted against the data (on macOS it is
invoked too).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlab.tensors import Feeds, save_feeds

#: How long one load and inference may take before the variant counts as hanging.
PROOF_TIMEOUT_SECONDS = 600


class VariantDoesNotRun(ValueError):
    """The file a recipe wrote does not load or run in its runtime; the message says why, in one line."""


def prove_runs(path: Path, sample: Feeds) -> str:
    """Run the variant at `path` once on `sample` (one sample per input, batch first); return what was done.

    Raises VariantDoesNotRun with the runtime's reason when it does not load, allocate or run.
    """
    if path.suffix == ".mlpackage":
        return _check_mlpackage(path, sample)
    with tempfile.TemporaryDirectory(prefix="benchlab-proof-") as folder:
        feeds = Path(folder) / "sample.npz"
        save_feeds(feeds, sample)
        try:
            done = subprocess.run([sys.executable, "-m", "benchlab.optimize.proof", str(path), str(feeds)],
                                  capture_output=True, text=True, timeout=PROOF_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise VariantDoesNotRun(f"does not run in LiteRT: one inference did not finish in "
                                    f"{PROOF_TIMEOUT_SECONDS} s") from None
    if done.returncode < 0:
        raise VariantDoesNotRun(f"does not run in LiteRT: it crashed the runtime "
                                f"({signal.Signals(-done.returncode).name})")
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise VariantDoesNotRun(f"does not run in LiteRT: the check exited with {done.returncode}: {last}") from None
    if result.get("error"):
        raise VariantDoesNotRun(f"does not run in LiteRT: {result['error']}")
    return f"ran once in LiteRT {result['runtime']}"


def _check_mlpackage(path: Path, sample: Feeds) -> str:
    """Load an .mlpackage's spec and check it takes as many inputs as the data has; predict on macOS."""
    import coremltools as ct

    try:
        model = ct.models.MLModel(str(path), skip_model_load=sys.platform != "darwin")
    except Exception as exc:  # noqa: BLE001 - coremltools raises many kinds on a package it cannot read
        raise VariantDoesNotRun(f"Core ML cannot load it: {' '.join(str(exc).split())[:300]}") from None
    description = model.get_spec().description
    inputs = [feature.name for feature in description.input]
    if len(inputs) != len(sample) or not description.output:
        raise VariantDoesNotRun(f"its spec has inputs {inputs} and {len(description.output)} outputs; "
                                f"the data has {len(sample)} inputs")
    if sys.platform != "darwin":
        return "Core ML spec loaded, inputs checked (Core ML runs on Apple devices only)"
    try:
        model.predict(dict(zip(inputs, sample.values())))
    except Exception as exc:  # noqa: BLE001 - Core ML raises many kinds on a model it cannot run
        raise VariantDoesNotRun(f"Core ML cannot run it: {' '.join(str(exc).split())[:300]}") from None
    return "ran once in Core ML"


def _run_once(model_path: str, sample_path: str) -> dict[str, str]:
    """Load, allocate and invoke the model once on the saved sample; return the runtime version or the error."""
    from importlib.metadata import version

    from ai_edge_litert.interpreter import Interpreter

    from benchlab.litert_invoke import readable_error, resize_inputs, set_inputs
    from benchlab.tensors import describe_interpreter, load_feeds, match_names

    try:
        interpreter = Interpreter(model_path=model_path)
        interpreter.allocate_tensors()
        io = describe_interpreter(interpreter)
        data = load_feeds(sample_path)
        mapping = match_names(list(data), io.inputs)
        feeds = {tensor.name: data[mapping[tensor.name]] for tensor in io.inputs}
        indices = {d["name"]: d["index"] for d in interpreter.get_input_details()}
        resize_inputs(interpreter, io, feeds, indices)
        set_inputs(interpreter, io, feeds, 0, indices)
        interpreter.invoke()
    except (ValueError, RuntimeError, KeyError) as exc:
        return {"error": readable_error(exc)}
    return {"runtime": version("ai-edge-litert")}


if __name__ == "__main__":
    print(json.dumps(_run_once(sys.argv[1], sys.argv[2])))
