"""A suite's model resolved to a file on disk, checked against the data, loaded at most once."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchlab.plan.datasets import Dataset, synthetic_dataset
from benchlab.errors import SuiteError, first_line
from benchlab.file_hash import path_sha256
from benchlab.names import file_name
from benchlab.plan.suite import HF_KIND, TORCH_KIND, ModelSpec
from benchlab.formats import format_named, format_of_kind
from benchlab.temp_dirs import make_owned_dir
from benchlab.tensors import Feeds, ModelIO, TensorInfo

if TYPE_CHECKING:
    from benchlab.optimize.torch_source import TorchProgram


class SourceModel:
    """The parent of every variant of one model: its path, kind, hash, inputs and (lazily) loaded forms."""

    def __init__(self, spec: ModelSpec, dataset: Dataset | None, progress: Callable[[str], None],
                 where: str = "model", made_by: tuple[str, ...] = ()) -> None:
        """`dataset` None means synthetic inputs; `where` names the model in errors, e.g. "suite.yaml: models[0]";
        `made_by` names the recipes that made this model from the suite's, in order (see derived())."""
        self.name = spec.name
        #: The recipes of a chain that made this model from the suite's (empty for the suite's own).
        self.made_by = made_by
        self.kind = spec.kind
        self.where = where
        self.spec = spec
        #: Where a recipe reports what takes long (training epochs), as build_variants was given.
        self.progress = progress
        self._dataset = dataset
        self._workdir = make_owned_dir("benchlab-src")  # swept by the next benchlab if this one is killed
        if spec.builtin is not None:
            from benchlab.plan.builtin_models import quickstart_model_path

            self.path = quickstart_model_path(progress)
        elif spec.module is not None:
            # A factory's model exists only in memory: saved once in the format a torch source's file is (a
            # .pt2), so a recipe can copy or load a file as for such a source; keyed by its content (the
            # file's bytes hold the example inputs, which a factory may draw at random).
            saved_as = format_of_kind(TORCH_KIND)
            assert saved_as is not None, "a format module declares the torch source kind (benchlab/formats/pt2.py)"
            self.path = self._workdir / f"{file_name(self.name)}{saved_as.suffix}"
            self.torch_program.save(self.path)
            self.sha256 = self.torch_program.sha256()
            return
        else:
            assert spec.path is not None
            self.path = spec.path
        self.sha256 = path_sha256(self.path)

    def derived(self, made_path: Path, recipe: str) -> SourceModel:
        """Return the model recipe `recipe` made from this one (a trained .keras, a converted .tflite),
        with the same name, data and progress, for the next step of a chain. The caller closes it."""
        spec = self.spec.model_copy(update={"path": made_path, "builtin": None, "module": None, "module_root": None})
        # This model's data (its own or the synthetic inputs made for it), so every step reads the same samples.
        model = SourceModel(spec, self.dataset, self.progress, self.where, (*self.made_by, recipe))
        if model.kind == "keras":
            # Training keeps the inputs (pruning and clustering change weights; a student is built on the
            # teacher's input), so the data fits it as it is: no need to load it to key its steps.
            model.__dict__["dataset"] = self.dataset
        # A converted model is described here and the data fitted to its inputs by name (a converter that
        # narrowed int64 ids to int32 takes the same ids), or refused, naming the input, as a failed step.
        return model

    def close(self) -> None:
        """Remove the temporary SavedModel export, if one was made."""
        shutil.rmtree(self._workdir, ignore_errors=True)

    def check(self) -> None:
        """Load the model once and check the data against it, before anything is built.

        Raises SuiteError naming the file and field when the model cannot be loaded, when the
        data does not fit its inputs, or when a label is not one of its outputs.
        """
        fitted = self.dataset
        outputs = self.output_size
        if fitted.labels is not None and outputs is not None and int(fitted.labels.max()) >= outputs:
            raise SuiteError(
                f"{fitted.origin}: labels: label {int(fitted.labels.max())} is out of range for model "
                f"{self.name!r}, which has {outputs} outputs (allowed: 0..{outputs - 1})"
            )

    def _unusable(self, what: str, exc: BaseException) -> SuiteError:
        return SuiteError(f"{self.where}.path: {self.path}: {what} ({first_line(exc)})")

    @cached_property
    def keras_model(self) -> Any:
        """The loaded Keras model (keras and builtin sources only); raises SuiteError when it will not load."""
        import keras

        try:
            return keras.models.load_model(self.path, compile=False)
        except Exception as exc:  # noqa: BLE001 - Keras raises many kinds on a foreign or damaged file
            raise self._unusable("cannot load it as a Keras model", exc) from None

    def saved_model_dir(self) -> Path:
        """Return a SavedModel directory for the TensorFlow converters, exporting Keras once."""
        if self.kind == "savedmodel":
            return self.path
        export_dir = self._workdir / "saved_model"
        if not export_dir.exists():
            self.keras_model.export(str(export_dir), verbose=False)
        return export_dir

    @cached_property
    def torch_program(self) -> TorchProgram:
        """The PyTorch model (torch sources only: a `module:` factory or a .pt2), loaded and exported once;
        raises SuiteError in one line when the factory or the file is unusable."""
        from benchlab.optimize.torch_source import load_factory, load_pt2

        if self.spec.module is not None:
            assert self.spec.module_root is not None, "a suite sets module_root when it loads"
            return load_factory(self.spec.module, self.spec.module_root, self.where)
        return load_pt2(self.path, self.where)

    @cached_property
    def _format_io(self) -> ModelIO | None:
        """The inputs and outputs of a source given in a variant format, read here (benchlab.formats);
        None for a format whose model the device reads (an .mlpackage). Raises SuiteError when unloadable."""
        fmt = format_named(self.kind)
        if fmt is None or not fmt.described_here:
            return None
        try:
            # Tensors are not allocated on purpose: a model with a custom op this runtime lacks is
            # a valid model, and a failed row, not bad input.
            return fmt.describe(self.path)
        except (ValueError, RuntimeError) as exc:
            raise self._unusable(f"not a loadable {fmt.title} model", exc) from None

    @cached_property
    def _serving_signature(self) -> Any:
        import tensorflow as tf

        try:
            return tf.saved_model.load(str(self.path)).signatures["serving_default"]
        except Exception as exc:  # noqa: BLE001 - TensorFlow raises many kinds on a damaged SavedModel
            raise self._unusable("cannot load it as a SavedModel with a serving_default signature", exc) from None

    @cached_property
    def inputs(self) -> tuple[TensorInfo, ...] | None:
        """The model's inputs (None for a format the device reads, an .mlpackage, whose data is used as
        given); raises SuiteError for an unloadable model."""
        if format_named(self.kind) is not None:
            return self._format_io.inputs if self._format_io is not None else None
        if self.kind == TORCH_KIND:
            return self.torch_program.inputs
        if self.kind == HF_KIND:  # a language model to export: its prompt's token ids, as its .litertlm's
            from benchlab.formats.language_model import token_io

            return token_io().inputs
        if self.kind == "savedmodel":
            specs = self._serving_signature.structured_input_signature[1]
            return tuple(_tensor(name, spec.dtype.name, spec.shape) for name, spec in specs.items())
        return tuple(_tensor(t.name, str(t.dtype), t.shape) for t in self.keras_model.inputs)

    @cached_property
    def output_size(self) -> int | None:
        """Values per sample of the model's only output; None with several outputs (the scoring
        stage checks the one labels are read from) or where it is not known before building."""
        if format_named(self.kind) is not None:
            if self._format_io is None:
                return None
            outputs: list[Any] = [t.sample_shape for t in self._format_io.outputs]
        elif self.kind == TORCH_KIND:
            outputs = [t.sample_shape for t in self.torch_program.outputs]
        elif self.kind == HF_KIND:
            return None
        elif self.kind == "savedmodel":
            outputs = [o.shape[1:] for o in self._serving_signature.structured_outputs.values()]
        else:
            outputs = [o.shape[1:] for o in self.keras_model.outputs]
        if len(outputs) != 1 or any(d is None or d < 0 for d in outputs[0]):
            return None
        return int(np.prod([int(d) for d in outputs[0]]))

    @cached_property
    def dataset(self) -> Dataset:
        """The model's data keyed by its input names, or seeded synthetic inputs when it has none.

        Raises SuiteError when the data does not fit an input.
        """
        inputs = self.inputs
        if self._dataset is None and inputs is None:
            raise SuiteError(f"{self.where}: an {self.path.suffix} source needs a dataset (its inputs are not "
                             "read on the host)")
        if inputs is None:
            return self._dataset
        try:
            if self._dataset is None:
                return synthetic_dataset(inputs, dict(self.spec.input_shapes), shared_shapes=self.spec.from_folder)
            return self._dataset.fitted_to(inputs, self.name)
        except SuiteError as exc:
            raise SuiteError(f"{exc} ({self.where})") from None

    def data_sha256(self, need: str) -> str:
        """Hash of the data a recipe needs ("calibration-data", "training-data")."""
        return self.dataset.train_sha256 if need == "training-data" else self.dataset.sha256

    def sample(self) -> Feeds:
        """The first sample of the model's inputs (its data, else the synthetic inputs), batch first."""
        return {name: values[:1] for name, values in self.dataset.inputs.items()}

    def calibration_feeds(self) -> Feeds:
        """Representative inputs keyed by the model's input names (synthetic ones when it has no data)."""
        return self.dataset.representative


def _tensor(name: str, dtype: str, shape: Any) -> TensorInfo:
    """A Keras or SavedModel input as a TensorInfo (unknown dimensions dynamic)."""
    dims = tuple(-1 if d is None else int(d) for d in shape)
    return TensorInfo(name=name, tensor_name=name, dtype=dtype, shape=dims)
