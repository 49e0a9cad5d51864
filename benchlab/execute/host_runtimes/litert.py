"""LiteRT's Python interpreter for .tflite variants, with or without the XNNPACK delegate."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchlab.execute.host_runtimes.base import HostRuntime, ModelRefused, Session
from benchlab.litert_invoke import readable_error, resize_inputs, set_inputs
from benchlab.tensors import Feeds, describe_interpreter, from_tensor


class LiteRTSession(Session):
    """A LiteRT interpreter with its tensors allocated."""

    def __init__(self, interpreter: Any) -> None:
        self._interpreter = interpreter
        self.io = describe_interpreter(interpreter)
        self._indices = {d["name"]: d["index"]
                         for d in (*interpreter.get_input_details(), *interpreter.get_output_details())}

    def prepare(self, feeds: Feeds) -> None:
        """Resize dynamic inputs to the data's shape (batch 1) and allocate again."""
        resize_inputs(self._interpreter, self.io, feeds, self._indices)

    def set_sample(self, feeds: Feeds, index: int) -> None:
        set_inputs(self._interpreter, self.io, feeds, index, self._indices)

    def invoke(self) -> None:
        self._interpreter.invoke()

    def outputs(self) -> dict[str, np.ndarray]:
        return {t.name: from_tensor(self._interpreter.get_tensor(self._indices[t.tensor_name]), t)
                for t in self.io.outputs}


class LiteRT(HostRuntime):
    name = "tflite"
    runner = "litert-python"
    package = "ai-edge-litert"

    def load_library(self) -> None:
        import ai_edge_litert.interpreter  # noqa: F401 - imported before the init timer starts

    def open(self, model_path: str, threads: int, xnnpack: bool) -> Session:
        """Load and allocate the model in LiteRT's interpreter; the built-in kernels only when not `xnnpack`."""
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        options: dict[str, Any] = {"num_threads": threads}
        if not xnnpack:
            options["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            interpreter = Interpreter(model_path=model_path, **options)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelRefused(readable_error(exc)) from None
        return LiteRTSession(interpreter)


RUNTIME = LiteRT()
