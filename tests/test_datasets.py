"""Datasets: npz files, folders of labelled images (real scikit-learn digits), built-in MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchlab.plan.datasets import load_dataset, mnist_splits
from benchlab.errors import SuiteError
from benchlab.plan.suite import DatasetSpec


def test_builtin_mnist_is_the_held_out_thousand_and_a_separate_training_split() -> None:
    train_x, train_y, eval_x, eval_y = mnist_splits()
    assert train_x.shape == (4000, 28, 28, 1) and eval_x.shape == (1000, 28, 28, 1)
    assert np.bincount(eval_y).tolist() == [100] * 10  # stratified: 100 of each digit
    assert 0.0 <= eval_x.min() and eval_x.max() <= 1.0
    dataset = load_dataset(DatasetSpec(builtin="mnist"))
    assert len(dataset.inputs) == 1000 and len(dataset.representative) == 4000


def test_image_folder_with_one_sub_folder_per_label(tmp_path: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index in range(30):
        folder = tmp_path / "images" / f"digit_{digits.target[index]}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (digits.images[index] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")
    dataset = load_dataset(DatasetSpec(images=tmp_path / "images", scale="symmetric"))
    assert dataset.inputs.shape == (30, 8, 8, 3)
    assert -1.0 <= dataset.inputs.min() and dataset.inputs.max() <= 1.0
    names = dataset.class_names
    assert [names[label] for label in dataset.labels] == sorted(
        f"digit_{t}" for t in digits.target[:30])  # files are read folder by folder, in name order


def test_npz_limit_and_reshaping_to_a_model(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, inputs=np.zeros((10, 784), np.float32), labels=np.arange(10))
    dataset = load_dataset(DatasetSpec(npz=path, limit=4))
    assert dataset.inputs.shape == (4, 784) and dataset.labels.tolist() == [0, 1, 2, 3]
    assert dataset.fitted_to((28, 28, 1)).inputs.shape == (4, 28, 28, 1)
    with pytest.raises(SuiteError, match=r"samples have shape \(784,\), the model expects \(32, 32, 3\)"):
        dataset.fitted_to((32, 32, 3))


def test_npz_without_inputs_names_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(SuiteError, match=r"has no `inputs` array \(found: x\)"):
        load_dataset(DatasetSpec(npz=path))


def test_whole_number_float_labels_are_class_indices(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, inputs=np.zeros((3, 4), np.float32), labels=np.array([0.0, 2.0, 1.0]))
    dataset = load_dataset(DatasetSpec(npz=path))
    assert dataset.labels.dtype == np.int64 and list(dataset.labels) == [0, 2, 1]
    assert dataset.origin == f"dataset.npz: {path}"
