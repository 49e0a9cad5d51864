"""Datasets: npz files, folders of labelled images (real scikit-learn digits), built-in MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchlab.plan.datasets import load_dataset, mnist_splits, synthetic_dataset
from benchlab.errors import SuiteError
from benchlab.plan.suite import DatasetSpec
from benchlab.tensors import TensorInfo


def test_builtin_mnist_is_the_held_out_thousand_and_a_separate_training_split() -> None:
    train_x, train_y, eval_x, eval_y = mnist_splits()
    assert train_x.shape == (4000, 28, 28, 1) and eval_x.shape == (1000, 28, 28, 1)
    assert np.bincount(eval_y).tolist() == [100] * 10  # stratified: 100 of each digit
    assert 0.0 <= eval_x.min() and eval_x.max() <= 1.0
    dataset = load_dataset(DatasetSpec(builtin="mnist"))
    assert dataset.inputs["inputs"].shape[0] == 1000 and dataset.representative["inputs"].shape[0] == 4000


def test_image_folder_with_one_sub_folder_per_label_greyscale_kept_one_channel(tmp_path: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index in range(30):
        folder = tmp_path / "images" / f"digit_{digits.target[index]}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (digits.images[index] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")
    dataset = load_dataset(DatasetSpec(images=tmp_path / "images", scale="symmetric"))
    pixels = dataset.inputs["inputs"]
    assert pixels.shape == (30, 8, 8, 1)  # greyscale images keep one channel
    assert -1.0 <= pixels.min() and pixels.max() <= 1.0
    names = dataset.class_names
    assert [names[label] for label in dataset.labels] == sorted(
        f"digit_{t}" for t in digits.target[:30])  # files are read folder by folder, in name order


def _tensor(name: str, dtype: str, *shape: int, scale: float = 0.0, zero_point: int = 0) -> TensorInfo:
    return TensorInfo(name, f"serving_default_{name}:0", dtype, (-1, *shape), scale, zero_point)


def test_npz_limit_and_a_shape_that_differs_is_refused_never_reshaped(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, inputs=np.zeros((10, 784), np.float32), labels=np.arange(10))
    dataset = load_dataset(DatasetSpec(npz=path, limit=4))
    assert dataset.inputs["inputs"].shape == (4, 784) and dataset.labels.tolist() == [0, 1, 2, 3]
    # 784 values per sample, as many as 28x28x1: it used to be reshaped silently.
    with pytest.raises(SuiteError, match=r"model 'm', input 'image': expected image float32 \(28, 28, 1\), "
                                         r"got float32 \(784,\)"):
        dataset.fitted_to([_tensor("image", "float32", 28, 28, 1)], "m")


def test_arrays_are_matched_to_inputs_by_name_and_dynamic_dimensions_take_the_data(tmp_path: Path) -> None:
    path = tmp_path / "two.npz"
    rng = np.random.default_rng(0)
    np.savez(path, meta=rng.random((6, 8)), image=rng.random((6, 20, 30, 3)), labels=np.arange(6) % 5,
             **{"representative:meta": rng.random((3, 8)), "representative:image": rng.random((3, 20, 30, 3))})
    dataset = load_dataset(DatasetSpec(npz=path))
    assert set(dataset.inputs) == {"meta", "image"} and dataset.inputs["meta"].dtype == np.float32
    assert dataset.representative["image"].shape == (3, 20, 30, 3)
    tensors = [_tensor("image", "float32", -1, -1, 3), _tensor("meta", "float32", 8)]
    fitted = dataset.fitted_to(tensors, "two")
    assert list(fitted.inputs) == ["image", "meta"]  # the model's order
    assert fitted.inputs["image"].shape == (6, 20, 30, 3)
    with pytest.raises(SuiteError, match=r"input 'meta': expected meta float32 \(9,\), got float32 \(8,\)"):
        dataset.fitted_to([_tensor("image", "float32", -1, -1, 3), _tensor("meta", "float32", 9)], "two")


def test_token_ids_stay_integers_and_float_data_for_an_id_input_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ids.npz"
    ids = np.array([[3, 41, 7], [0, 1, 49]], dtype=np.int32)
    np.savez(path, ids=ids)
    dataset = load_dataset(DatasetSpec(npz=path))
    assert dataset.inputs["ids"].dtype == np.int32 and (dataset.inputs["ids"] == ids).all()
    dataset.fitted_to([_tensor("ids", "int32", 3)], "tok")
    floats = tmp_path / "floats.npz"
    np.savez(floats, ids=ids.astype(np.float32))
    with pytest.raises(SuiteError, match=r"expected ids int32 \(3,\) \(integer values such as token ids\)"):
        load_dataset(DatasetSpec(npz=floats)).fitted_to([_tensor("ids", "int32", 3)], "tok")


def test_synthetic_inputs_match_every_input_and_are_the_same_each_time() -> None:
    tensors = [_tensor("image", "int8", 4, 4, 3, scale=0.5, zero_point=-1), _tensor("ids", "int32", 5),
               _tensor("mask", "bool", 5), _tensor("features", "float32", -1, 2)]
    data = synthetic_dataset(tensors, {"features": (7, 2)}, count=8)
    again = synthetic_dataset(tensors, {"features": (7, 2)}, count=8)
    assert all((data.inputs[n] == again.inputs[n]).all() for n in data.inputs)
    assert data.synthetic and data.labels is None
    image = data.inputs["image"]  # real values over the quantized range (-128 - -1) * 0.5 .. (127 + 1) * 0.5
    assert image.dtype == np.float32 and image.min() >= -63.5 and image.max() <= 64.0 and image.std() > 10
    assert data.inputs["ids"].dtype == np.int32 and set(np.unique(data.inputs["ids"])) <= {0, 1}
    assert data.inputs["mask"].dtype == np.bool_
    assert data.inputs["features"].shape == (8, 7, 2)
    data.fitted_to(tensors, "m")  # synthetic data fits the inputs it was made for


def test_npz_arrays_are_inputs_and_one_with_none_names_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, x=np.zeros(3))
    dataset = load_dataset(DatasetSpec(npz=path))  # any array is an input, named as in the file
    assert list(dataset.inputs) == ["x"]
    empty = tmp_path / "labels_only.npz"
    np.savez(empty, labels=np.arange(3))
    with pytest.raises(SuiteError, match=r"has no input arrays: give `inputs` .* \(found: labels\)"):
        load_dataset(DatasetSpec(npz=empty))


def test_whole_number_float_labels_are_class_indices(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, inputs=np.zeros((3, 4), np.float32), labels=np.array([0.0, 2.0, 1.0]))
    dataset = load_dataset(DatasetSpec(npz=path))
    assert dataset.labels.dtype == np.int64 and list(dataset.labels) == [0, 2, 1]
    assert dataset.origin == f"dataset.npz: {path}"


@pytest.mark.parametrize(("dtype", "scale", "shape", "data", "problem"), [
    ("float32", 0.0, (1, 28, 28), np.zeros((2, 28, 28), np.float32), None),
    ("float32", 0.0, (1, -1, 28), np.zeros((2, 5, 28), np.float32), None),  # a dynamic dimension takes any size
    ("float32", 0.0, (1, 28, 28), np.zeros((2, 28), np.float32), "shape"),
    ("int32", 0.0, (1, 8), np.zeros((2, 8), np.float32), "values"),  # real values for token ids
    ("int32", 0.0, (1, 8), np.zeros((2, 8), np.int64), None),
    ("bool", 0.0, (1, 8), np.zeros((2, 8), np.float32), "values"),
    ("int8", 0.5, (1, 8), np.zeros((2, 8), np.float32), None),  # a quantized input takes real values
])
def test_the_tensor_description_says_whether_samples_fit(dtype: str, scale: float, shape: tuple[int, ...],
                                                         data: np.ndarray, problem: str | None) -> None:
    assert TensorInfo(name="x", tensor_name="x", dtype=dtype, shape=shape, scale=scale).misfit(data) == problem
