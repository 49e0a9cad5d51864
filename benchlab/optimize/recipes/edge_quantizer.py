"""Variants of a .tflite someone already has, made with Google's ai-edge-quantizer.

fp16 weights, dynamic-range int8, weight-only int8, full int8 and int16x8 (both calibrated on the
representative data). Where a recipe means the same as a converter recipe of benchlab.optimize.recipes.litert, it
has the same NAME and options and is registered as that recipe's alternative for .tflite sources,
so one suite names "full-int8" for a Keras model and a .tflite alike.

The quantizer only rewrites float32 constants and calibrates through a signature, so the source is
first prepared (benchlab.optimize.flatbuffer): float16 weights expanded to float32, a signature
added where there is none. The variant's notes say what was done; the reference stays the
original file. ai-edge-quantizer is imported inside build() only.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from benchlab.optimize.flatbuffer import (PREPARATION_REVISION, Prepared, constant_types, custom_ops,
                                          prepare_for_quantizer)
from benchlab.formats.base import VariantDoesNotRun
from benchlab.formats.tflite import FORMAT as TFLITE
from benchlab.optimize.recipes.base import Need, Options, Recipe
from benchlab.optimize.recipes.litert import CalibrationOptions, FullInt8Options
from benchlab.tensors import describe_interpreter, match_names, to_tensor

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel


class QuantizerRecipe(Recipe):
    """ai-edge-quantizer run on a prepared copy of a .tflite source; subclasses pick its recipe."""

    FORMAT = "tflite"
    SOURCES = frozenset({"tflite"})
    TOOL = "ai-edge-quantizer"
    QUANTIZES_WEIGHTS = True
    #: The constant type the recipe stores weights as: the variant must hold more of them than the source.
    WEIGHT_TYPE: ClassVar[str] = "INT8"

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str | None:
        """Quantize `source` into `out_path`; return what was done to the source first (or None).

        Raises VariantDoesNotRun, first, when the model has a custom op LiteRT lacks (no variant of it
        could be checked here); ValueError for a model with no float weights or when the quantizer
        changed no weight (no op it supports holds one), and what the quantizer raises (the caller
        records a failed variant either way).
        """
        _refuse_missing_custom_ops(source)
        # tqdm reads this when first imported (here, or by coremltools later in the same process).
        os.environ.setdefault("TQDM_DISABLE", "1")
        from ai_edge_quantizer import quantizer

        prepared = prepare_for_quantizer(source.path)
        if not prepared.float_constants:
            raise ValueError("the model has no float weights to quantize (it is already integer-quantized)")
        worker = quantizer.Quantizer(bytearray(prepared.model))
        self.configure(worker)
        calibration = None
        with warnings.catch_warnings():  # calibration keeps every tensor on purpose; LiteRT warns about it
            warnings.simplefilter("ignore", UserWarning)
            if worker.need_calibration:
                assert isinstance(options, CalibrationOptions)
                data = _calibration_data(source, prepared, options.calibration_samples)
                # Its progress bar would tear benchlab's own, also where tqdm was imported before.
                with contextlib.redirect_stderr(io.StringIO()):
                    calibration = worker.calibrate(data)
            result = worker.quantize(calibration, enable_progress_report=False)
        quantized = bytes(result.quantized_model)
        if constant_types(quantized)[self.WEIGHT_TYPE] <= constant_types(prepared.model)[self.WEIGHT_TYPE]:
            # The quantizer returns the model unchanged when no op it supports has weights: not a variant.
            raise ValueError(f"ai-edge-quantizer stored no weight as {self.WEIGHT_TYPE.lower()} "
                             "(no op it quantizes holds float weights in this model)")
        out_path.write_bytes(quantized)
        return prepared.notes()

    def configure(self, worker: Any) -> None:
        """Load this recipe's quantization recipe into the quantizer."""
        raise NotImplementedError

    def key_extras(self, options: Options) -> dict[str, str]:
        """Return the revision of benchlab's preparation of the source, which decides the variant's bytes too."""
        return {"prepared": str(PREPARATION_REVISION)}


class Fp16(QuantizerRecipe):
    NAME = "fp16"
    DESCRIPTION = "ai-edge-quantizer float16 weights (a .tflite source)"
    WEIGHT_TYPE = "FLOAT16"

    def configure(self, worker: Any) -> None:
        from ai_edge_quantizer.algorithm_manager import AlgorithmName
        from ai_edge_quantizer.qtyping import TFLOperationName

        # The quantizer's float casting of weights: float16 constants behind DEQUANTIZE ops.
        worker.add_weight_only_config(regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                      algorithm_key=AlgorithmName.FLOAT_CASTING)


class DynamicInt8(QuantizerRecipe):
    NAME = "dynamic-int8"
    DESCRIPTION = "ai-edge-quantizer dynamic-range int8 weights, float activations (a .tflite source)"

    def configure(self, worker: Any) -> None:
        from ai_edge_quantizer import recipe

        worker.load_quantization_recipe(recipe.dynamic_wi8_afp32())


class WeightOnlyInt8(QuantizerRecipe):
    NAME = "weight-only-int8"
    DESCRIPTION = "ai-edge-quantizer int8 weights dequantized to float before each op (a .tflite source)"

    def configure(self, worker: Any) -> None:
        from ai_edge_quantizer import recipe

        worker.load_quantization_recipe(recipe.weight_only_wi8_afp32())


class FullInt8(QuantizerRecipe):
    NAME = "full-int8"
    DESCRIPTION = "ai-edge-quantizer full integer: int8 weights, activations and I/O, calibrated (a .tflite source)"
    OPTIONS: ClassVar[type[Options]] = FullInt8Options
    NEEDS: ClassVar[frozenset[Need]] = frozenset({"calibration-data"})

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str | None:
        """As QuantizerRecipe.build; raises ValueError for `int8_io: false`, which the quantizer cannot make."""
        assert isinstance(options, FullInt8Options)
        if not options.int8_io:
            raise ValueError("int8_io: false is not available for a .tflite source "
                             "(ai-edge-quantizer makes int8 inputs and outputs)")
        return super().build(source, options, out_path)

    def configure(self, worker: Any) -> None:
        from ai_edge_quantizer import recipe

        worker.load_quantization_recipe(recipe.static_wi8_ai8())


class Int16x8(QuantizerRecipe):
    NAME = "int16x8"
    DESCRIPTION = "ai-edge-quantizer int16 activations with int8 weights, calibrated (a .tflite source)"
    OPTIONS: ClassVar[type[Options]] = CalibrationOptions
    NEEDS: ClassVar[frozenset[Need]] = frozenset({"calibration-data"})

    def configure(self, worker: Any) -> None:
        from ai_edge_quantizer import recipe

        worker.load_quantization_recipe(recipe.static_wi8_ai16())


def _refuse_missing_custom_ops(source: SourceModel) -> None:
    """Raise VariantDoesNotRun naming the custom ops when the source uses one this LiteRT cannot run.

    Checked before anything else, so every variant of such a model fails with the same line the
    model as it is does. A custom op LiteRT registers itself (TFLite_Detection_PostProcess) passes.
    """
    if custom_ops(source.path.read_bytes()):
        try:
            TFLITE.prove_runs(source.path, source.sample())
        except VariantDoesNotRun as exc:
            raise VariantDoesNotRun(f"the model {exc}") from None


def _calibration_data(source: SourceModel, prepared: Prepared, samples: int) -> dict[str, list[dict[str, np.ndarray]]]:
    """Return the representative data as the quantizer wants it: per signature, a list of batch-1 samples.

    Raises ValueError when the data's inputs do not match the model's.
    """
    from ai_edge_litert.interpreter import Interpreter

    io = describe_interpreter(Interpreter(model_content=prepared.model))
    if io.signature is None:  # a signature on another subgraph than the main one: the quantizer would miss it
        raise ValueError("the model's signatures do not describe its main graph, which calibration runs")
    feeds = source.calibration_feeds()
    mapping = match_names(list(feeds), io.inputs)
    count = min([samples, *(len(array) for array in feeds.values())])
    return {io.signature: [
        {info.name: to_tensor(feeds[mapping[info.name]][i:i + 1], info) for info in io.inputs}
        for i in range(count)
    ]}
