"""LiteRT (TFLite) recipes from Keras / SavedModel sources: fp32, fp16, dynamic-range int8, full int8, int16x8.

Every converter goes through a SavedModel: TensorFlow's Keras 3 path exports one anyway, and it is
the form the converter documents for all its options. TensorFlow is imported inside build() only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from benchlab.optimize.recipes.base import Need, Options, Recipe

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel


class CalibrationOptions(Options):
    """How many representative samples calibrate activation ranges."""

    calibration_samples: int = Field(200, ge=1, description="representative samples used to calibrate ranges")


class FullInt8Options(CalibrationOptions):
    """Full-integer options: calibration plus whether inputs and outputs are int8 too."""

    int8_io: bool = Field(True, strict=True, description="int8 input and output tensors (else float32 at the edges)")


class LiteRTRecipe(Recipe):
    """A TFLiteConverter run on the source's SavedModel; subclasses set the converter's options."""

    FORMAT = "tflite"
    TOOL = "tensorflow"
    #: Apply the converter's default optimizations (weight quantization); off only for the reference.
    OPTIMIZE: ClassVar[bool] = True
    #: tf dtype names the weights may be stored as (e.g. "float16"); empty: the converter's int8.
    WEIGHT_TYPES: ClassVar[tuple[str, ...]] = ()

    def build(self, source: SourceModel, options: Options, out_path: Path) -> None:
        """Convert `source` and write the flatbuffer at `out_path`; raises what the converter raises."""
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_saved_model(str(source.saved_model_dir()))
        self.configure(converter, tf, source, options)
        out_path.write_bytes(converter.convert())

    def configure(self, converter: Any, tf: Any, source: SourceModel, options: Options) -> None:
        """Set the converter's optimizations from OPTIMIZE and WEIGHT_TYPES."""
        if self.OPTIMIZE:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if self.WEIGHT_TYPES:
            converter.target_spec.supported_types = [getattr(tf, name) for name in self.WEIGHT_TYPES]


class Fp32(LiteRTRecipe):
    NAME = "fp32"
    DESCRIPTION = "LiteRT float32, no optimization (the reference)"
    QUANTIZES_WEIGHTS = False
    IS_REFERENCE = True
    OPTIMIZE = False


class Fp16(LiteRTRecipe):
    NAME = "fp16"
    DESCRIPTION = "LiteRT float16 weights"
    QUANTIZES_WEIGHTS = True
    WEIGHT_TYPES = ("float16",)


class DynamicInt8(LiteRTRecipe):
    NAME = "dynamic-int8"
    DESCRIPTION = "LiteRT dynamic-range int8 weights, float activations"
    QUANTIZES_WEIGHTS = True


class CalibratedRecipe(LiteRTRecipe):
    """Integer activations: ranges calibrated on representative samples, then the subclass's integer ops."""

    OPTIONS: ClassVar[type[Options]] = CalibrationOptions
    NEEDS: ClassVar[frozenset[Need]] = frozenset({"calibration-data"})
    QUANTIZES_WEIGHTS = True

    def configure(self, converter: Any, tf: Any, source: SourceModel, options: Options) -> None:
        assert isinstance(options, CalibrationOptions)
        super().configure(converter, tf, source, options)
        converter.representative_dataset = _calibration(source, options)
        self.integer_ops(converter, tf, options)

    def integer_ops(self, converter: Any, tf: Any, options: Options) -> None:
        """Restrict the converter to the integer kernels of this recipe."""
        raise NotImplementedError


class FullInt8(CalibratedRecipe):
    NAME = "full-int8"
    DESCRIPTION = "LiteRT full integer: int8 weights and activations, int8 inputs/outputs, calibrated"
    OPTIONS = FullInt8Options

    def integer_ops(self, converter: Any, tf: Any, options: Options) -> None:
        assert isinstance(options, FullInt8Options)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if options.int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8


class Int16x8(CalibratedRecipe):
    NAME = "int16x8"
    DESCRIPTION = "LiteRT int16 activations with int8 weights, calibrated"

    def integer_ops(self, converter: Any, tf: Any, options: Options) -> None:
        # No fallback to float ops: a model with an op that lacks an int16x8 kernel fails here
        # and is reported as a failed variant instead of a silently mixed-precision one.
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]


def _calibration(source: SourceModel, options: CalibrationOptions) -> Callable[[], Iterator[Any]]:
    """Return the representative-dataset generator the converter calibrates ranges with: one
    sample per step, as a list for a single input, by signature name for several."""
    feeds = source.calibration_feeds()
    count = min(options.calibration_samples, len(next(iter(feeds.values()))))

    def generate() -> Iterator[Any]:
        for i in range(count):
            sample = {name: values[i : i + 1] for name, values in feeds.items()}
            yield list(sample.values()) if len(sample) == 1 else sample

    return generate
