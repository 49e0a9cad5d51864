"""LiteRT (TFLite) recipes: fp32, fp16, dynamic-range int8, full int8, int16x8.

TensorFlow is imported here and only here (and in coreml.py), so commands that build nothing
never pay for it. Every converter goes through a SavedModel: TensorFlow's Keras 3 path exports one
anyway, and it is the form the converter documents for all its options.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchlab.optimize.source import SourceModel


def build_tflite(source: SourceModel, recipe: str, options: dict[str, Any], out_path: Path) -> None:
    """Convert `source` with one LiteRT recipe and write the flatbuffer to `out_path`.

    Raises whatever the converter raises (the caller records it as a failed variant).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(source.saved_model_dir()))
    if recipe == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif recipe == "dynamic-int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif recipe == "full-int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _calibration(source, options)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if options["int8_io"]:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    elif recipe == "int16x8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _calibration(source, options)
        # No fallback to float ops: a model with an op that lacks an int16x8 kernel fails here
        # and is reported as a failed variant instead of a silently mixed-precision one.
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    elif recipe != "fp32":
        raise ValueError(f"not a LiteRT recipe: {recipe}")
    out_path.write_bytes(converter.convert())


def _calibration(source: SourceModel, options: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Return the representative-dataset generator the converter calibrates ranges with."""
    samples = source.calibration_inputs()[: int(options["calibration_samples"])]

    def generate() -> Iterator[list[np.ndarray]]:
        for sample in samples:
            yield [sample[np.newaxis].astype(np.float32)]

    return generate
