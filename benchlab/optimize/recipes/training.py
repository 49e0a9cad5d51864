"""What the recipes that train share: the training split as the model wants it, seeding, one progress
line per epoch, the notes a trained variant records, and the conversion of the trained Keras model.

Training is seeded (SEED) so a rebuild makes the same variant, up to the float rounding order of
multi-threaded CPU kernels; the variant's cache key holds the training split's hash (the recipes
declare they need "training-data"), so new data trains a new variant. Keras and TensorFlow are
imported inside the functions only.
"""

from __future__ import annotations

import os
import tempfile
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from benchlab.errors import SuiteError
from benchlab.optimize.recipes.base import KERAS_SOURCES, Need, Options, Recipe

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel

#: The seed of every training run (weights, shuffling, dropout).
SEED = 0
#: Samples per training step.
BATCH_SIZE = 64
#: The environment switch that makes TensorFlow's `tf.keras` Keras 2 (tf_keras).
LEGACY_KERAS = "TF_USE_LEGACY_KERAS"
#: The recipe whose trained model holds zeros to keep (model_optimization.Prune's name; a chained
#: step reads SourceModel.made_by for it).
PRUNED_BY = "prune"
#: The converter's optimisation that stores zero-heavy kernels compressed (tf.lite.Optimize member).
SPARSITY = "EXPERIMENTAL_SPARSITY"


@dataclass
class TrainingLog:
    """What a training run did, for the variant's notes: epochs, the last epoch's loss, seconds."""

    samples: int
    epochs: int = 0
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def notes(self) -> str:
        """Return e.g. "trained 2 epochs on 4000 samples, final loss 0.1234, 12.3 s (seed 0)"."""
        loss = f"{self.losses[-1]:.4f}" if self.losses else "n/a"
        return (f"trained {self.epochs} epochs on {self.samples} samples, final loss {loss}, "
                f"{self.seconds:.1f} s (seed {SEED})")


class TrainingRecipe(Recipe):
    """A recipe that trains a Keras model on the suite's training split, then converts it to a .tflite."""

    FORMAT = "tflite"  # what the trained model is converted to (a KerasTrainingRecipe's finish())
    SOURCES = frozenset(KERAS_SOURCES - {"savedmodel"})  # a SavedModel has no Keras layers to train
    NEEDS: frozenset[Need] = frozenset({"training-data"})
    TOOL = "tensorflow"

    def check(self, source: SourceModel) -> None:
        """Raise SuiteError when the model has several outputs (the labels train one)."""
        if len(source.keras_model.outputs) != 1:
            raise SuiteError(f"{source.where}: recipe {self.NAME} trains a model with one output; "
                             f"{source.name!r} has {len(source.keras_model.outputs)}")


class KerasTrainingRecipe(TrainingRecipe):
    """A recipe whose training yields a Keras 3 model (pruning, clustering, distillation).

    Built in two cached steps (benchlab.optimize.build): train() writes the trained model as a .keras
    file, then finish() converts it to the variant's .tflite and checks the claim in the file. In a
    chain (`then:`), the next recipe is built from the trained .keras instead of finish(), and the
    claim is checked in the chain's final .tflite: zeros and clusters must survive quantization.
    """

    YIELDS_KERAS = True
    CHAINS_AS = "keras"
    #: What claim() checks in a written file ("zeros"), None for a recipe that claims nothing measurable.
    CLAIM: ClassVar[str | None] = None
    #: The formats (benchlab.formats names) whose files claim() reads: a .tflite's kernels
    #: (benchlab.optimize.recipes.kernels). A chain that ends in another format (an .mlpackage) says
    #: the claim was not measured there.
    CLAIM_READ_IN: ClassVar[frozenset[str]] = frozenset({"tflite"})

    @abstractmethod
    def train(self, source: SourceModel, options: Options) -> tuple[Any, str]:
        """Train on `source`'s training split; return the trained Keras 3 model and the training's notes.

        Raises what Keras, tfmot or a student file raise (the caller records a failed variant).
        """

    def claim(self, tflite_path: Path, options: Options) -> str | None:
        """Return what `tflite_path` holds that this recipe claims ("50.1% of ... weights zero"), None
        when it claims nothing measurable (CLAIM is None); raise ValueError when the file does not hold it."""
        return None

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str:
        """Train and write the trained .keras at `out_path` (the first of the two steps); return the notes."""
        model, notes = self.train(source, options)
        model.save(out_path)
        return notes

    def finish(self, trained: SourceModel, options: Options, out_path: Path) -> str | None:
        """Convert the trained model to the variant's .tflite at `out_path`; return the claim measured in it.

        A pruned model (by this recipe or earlier in a chain) is converted with the converter's sparsity
        optimisation: its float kernels are stored compressed behind DENSIFY ops, expanded once when the
        model loads, which XNNPACK's sparse kernels can use. (Not for int8 files: compressed int8 kernels
        at 50% zeros take more bytes than dense ones.)
        """
        convert(trained.keras_model, out_path, (SPARSITY,) if PRUNED_BY in trained.made_by else ())
        return self.claim(out_path, options)


def import_tfmot() -> Any:
    """Return the tensorflow_model_optimization module, imported without its process-wide switch to Keras 2.

    On import tfmot sets TF_USE_LEGACY_KERAS=1 and then reads tf.keras, which makes `tf.keras` Keras 2
    for the rest of the process: coremltools, asked to convert a Keras 3 model later in the same run,
    would then not recognise it. So `tf.keras` is resolved (to Keras 3) first and the variable is put
    back as it was; tfmot itself works on tf_keras either way.
    """
    import tensorflow as tf

    tf.keras.version()  # resolves TensorFlow's lazy `tf.keras` while the switch is still off
    before = os.environ.get(LEGACY_KERAS)
    try:
        import tensorflow_model_optimization as tfmot
    finally:
        if before is None:
            os.environ.pop(LEGACY_KERAS, None)
        else:
            os.environ[LEGACY_KERAS] = before
    return tfmot


def package_version(package: str) -> str:
    """Return an installed package's version, or "missing" (the build then fails on its import)."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "missing"


def training_arrays(source: SourceModel) -> tuple[list[np.ndarray], np.ndarray]:
    """Return the training inputs in the order of the model's inputs, and the labels.

    Raises SuiteError when the dataset has no training split (the suite check normally refuses first).
    """
    dataset = source.dataset
    if dataset.train_inputs is None or dataset.train_labels is None or source.inputs is None:
        raise SuiteError(f"{source.where}: the dataset has no training split (train_inputs, train_labels)")
    return [dataset.train_inputs[tensor.name] for tensor in source.inputs], dataset.train_labels


def as_feed(arrays: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """Return inputs as Keras' fit and predict want them: the array itself for a one-input model."""
    return arrays[0] if len(arrays) == 1 else arrays


def outputs_probabilities(model: Any, inputs: list[np.ndarray]) -> bool:
    """Return True when `model`'s output on a few training samples is a probability distribution
    (non-negative, rows summing to 1), False when it looks like logits."""
    scores = np.asarray(model.predict(as_feed([x[:16] for x in inputs]), verbose=0))
    return bool(scores.min() >= 0 and np.allclose(scores.sum(axis=-1), 1.0, atol=1e-3))


@contextmanager
def timed(log: TrainingLog) -> Iterator[None]:
    """Add the seconds spent inside the block to `log.seconds`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        log.seconds += time.perf_counter() - started


def epoch_lines(callbacks: Any, log: TrainingLog, say: Callable[[str], None], label: str, epochs: int) -> Any:
    """Return a Keras callback (from `callbacks`, keras' or tf_keras' module) that records each epoch's
    loss in `log` and says one line per epoch, e.g. "  prune tiny: epoch 1/2 loss 0.4321"."""

    def on_epoch_end(epoch: int, logs: dict[str, float] | None) -> None:
        loss = float((logs or {}).get("loss", float("nan")))
        log.epochs, log.losses = epoch + 1, [*log.losses, loss]
        say(f"  {label}: epoch {epoch + 1}/{epochs} loss {loss:.4f}")

    return callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def load_fresh(source: SourceModel) -> Any:
    """Return a new copy of the source's Keras 3 model (the shared one is left as it is for other recipes)."""
    import keras

    return keras.models.load_model(source.path, compile=False)


def convert(model: Any, out_path: Path, optimizations: tuple[str, ...] = ()) -> None:
    """Export a Keras 3 model as the fp32 reference is exported and convert it to `out_path`.

    `optimizations` names tf.lite.Optimize members (e.g. "EXPERIMENTAL_SPARSITY"); none gives float32.
    Raises what the converter raises.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="benchlab-train-") as folder:
        model.export(str(Path(folder) / "saved_model"), verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(folder) / "saved_model"))
        converter.optimizations = [getattr(tf.lite.Optimize, name) for name in optimizations]
        out_path.write_bytes(converter.convert())
