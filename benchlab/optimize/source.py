"""A suite's model resolved to a file on disk, loaded at most once per optimize session."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from benchlab.datasets import Dataset
from benchlab.errors import SuiteError
from benchlab.optimize.cache import path_sha256
from benchlab.suite import ModelSpec


class SourceModel:
    """The parent of every variant of one model: its path, kind, hash and (lazily) loaded forms."""

    def __init__(self, spec: ModelSpec, dataset: Dataset, progress: Callable[[str], None]) -> None:
        self.name = spec.name
        self.kind = spec.kind
        if spec.builtin is not None:
            from benchlab.builtin_models import quickstart_model_path

            self.path = quickstart_model_path(progress)
        else:
            assert spec.path is not None
            self.path = spec.path
        self.sha256 = path_sha256(self.path)
        self._dataset = dataset
        self._workdir = tempfile.TemporaryDirectory(prefix="benchlab-src-")

    def close(self) -> None:
        """Remove the temporary SavedModel export, if one was made."""
        self._workdir.cleanup()

    @cached_property
    def keras_model(self) -> Any:
        """The loaded Keras model (keras and builtin sources only)."""
        import keras

        try:
            return keras.models.load_model(self.path, compile=False)
        except (OSError, ValueError) as exc:
            raise SuiteError(f"model {self.name!r}: cannot load {self.path}: {_first_line(exc)}") from None

    def saved_model_dir(self) -> Path:
        """Return a SavedModel directory for the TensorFlow converters, exporting Keras once."""
        if self.kind == "savedmodel":
            return self.path
        export_dir = Path(self._workdir.name) / "saved_model"
        if not export_dir.exists():
            self.keras_model.export(str(export_dir), verbose=False)
        return export_dir

    @cached_property
    def input_shape(self) -> tuple[int, ...]:
        """The per-sample input shape (batch dimension excluded)."""
        if self.kind == "tflite":
            from ai_edge_litert.interpreter import Interpreter

            try:
                details = Interpreter(model_path=str(self.path)).get_input_details()[0]
            except ValueError as exc:
                raise SuiteError(f"model {self.name!r}: {self.path}: {_first_line(exc)}") from None
            return tuple(int(d) for d in details["shape"][1:])
        if self.kind == "mlpackage":
            return tuple(self._dataset.inputs.shape[1:])
        if self.kind == "savedmodel":
            import tensorflow as tf

            signature = tf.saved_model.load(str(self.path)).signatures["serving_default"]
            spec = next(iter(signature.structured_input_signature[1].values()))
            return tuple(int(d) for d in spec.shape[1:])
        return tuple(int(d) for d in self.keras_model.inputs[0].shape[1:])

    @cached_property
    def dataset(self) -> Dataset:
        """The suite's dataset shaped for this model's input."""
        return self._dataset.fitted_to(self.input_shape)

    @property
    def data_sha256(self) -> str:
        """Hash of the suite's data; reshaping does not change it, so no model load is needed."""
        return self._dataset.sha256

    def calibration_inputs(self) -> np.ndarray:
        """Representative inputs for calibrated recipes, shaped for this model."""
        return self.dataset.representative


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
