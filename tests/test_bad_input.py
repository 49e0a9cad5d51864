"""A corpus of bad inputs: each one, run through the real CLI, exits 2 with one line naming the file and
field, and writes nothing (no run folder, no cached variant).

Every case is a suite pointing at one bad model, dataset or field; models are the tiny ones the
session builds (tests/conftest.py), data a handful of arrays, so each case takes about a second.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchlab.cli import main

GOOD_INPUTS = np.zeros((6, 28, 28, 1), np.float32)
GOOD_LABELS = np.arange(6, dtype=np.int64)
PROGRESS_BARS = ("optimize ", "benchmark ")


@dataclass
class Case:
    """A bad input: `make(tmp_path, models)` writes it and returns the suite file; `expected` must be in the line."""

    make: Callable[[Path, dict[str, Path]], Path]
    expected: tuple[str, ...]


def _write(tmp_path: Path, model: dict, dataset: dict | None = None, variants: list | None = None,
           name: str = "bad") -> Path:
    if dataset is None:
        np.savez(tmp_path / "data.npz", inputs=GOOD_INPUTS, labels=GOOD_LABELS)
        dataset = {"npz": "data.npz"}
    suite = {"name": name, "models": [model], "dataset": dataset, "variants": variants or ["tflite"],
             "targets": ["host"], "scenario": {"warmup": 0, "iterations": 1}}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def _tflite_model(tmp_path: Path, data: bytes, **dataset: object) -> Path:
    (tmp_path / "m.tflite").write_bytes(data)
    return _write(tmp_path, {"name": "m", "path": "m.tflite"}, dict(dataset) or None)


def _npz(tmp_path: Path, models: dict[str, Path], **arrays: np.ndarray) -> Path:
    np.savez(tmp_path / "d.npz", **arrays)
    return _write(tmp_path, {"name": "m", "path": str(models["tflite"])}, {"npz": "d.npz"})


def _npy_named_npz(tmp_path: Path, models: dict[str, Path]) -> Path:
    with open(tmp_path / "d.npz", "wb") as handle:
        np.save(handle, GOOD_INPUTS)
    return _write(tmp_path, {"name": "m", "path": str(models["tflite"])}, {"npz": "d.npz"})


def _truncated_tflite(tmp_path: Path, models: dict[str, Path]) -> Path:
    data = models["tflite"].read_bytes()
    return _tflite_model(tmp_path, data[: len(data) // 2])


def _random_after_header(tmp_path: Path, models: dict[str, Path]) -> Path:
    header = models["tflite"].read_bytes()[:8]
    return _tflite_model(tmp_path, header + np.random.default_rng(0).bytes(20_000))


def _directory_named_tflite(tmp_path: Path, models: dict[str, Path]) -> Path:
    (tmp_path / "m.tflite").mkdir()
    return _write(tmp_path, {"name": "m", "path": "m.tflite"})


def _directory_not_savedmodel(tmp_path: Path, models: dict[str, Path]) -> Path:
    (tmp_path / "exported").mkdir()
    (tmp_path / "exported" / "notes.txt").write_text("not a model")
    return _write(tmp_path, {"name": "m", "path": "exported"}, variants=["fp32"])


def _keras_not_keras(tmp_path: Path, models: dict[str, Path]) -> Path:
    (tmp_path / "m.keras").write_bytes(bytes(range(256)) * 12)
    return _write(tmp_path, {"name": "m", "path": "m.keras"}, variants=["fp32", "coreml-fp16"])


def _keras_zip_without_model(tmp_path: Path, models: dict[str, Path]) -> Path:
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as archive:
        archive.writestr("readme.txt", "a zip, but no Keras model inside")
    return _write(tmp_path, {"name": "m", "path": "m.keras"}, variants=["fp32"])


def _unknown_model_suffix(tmp_path: Path, models: dict[str, Path]) -> Path:
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    return _write(tmp_path, {"name": "m", "path": "m.onnx"}, variants=["fp32"])


def _not_an_mlpackage(tmp_path: Path, models: dict[str, Path]) -> Path:
    (tmp_path / "m.mlpackage").mkdir()
    return _write(tmp_path, {"name": "m", "path": "m.mlpackage"}, variants=["mlpackage"])


def _corrupt_image(tmp_path: Path, models: dict[str, Path]) -> Path:
    from PIL import Image

    for label in ("0", "1"):
        (tmp_path / "images" / label).mkdir(parents=True)
        Image.new("L", (28, 28), int(label) * 255).save(tmp_path / "images" / label / "a.png")
    (tmp_path / "images" / "1" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return _write(tmp_path, {"name": "m", "path": str(models["tflite"])}, {"images": "images"})


def _long_name(tmp_path: Path, models: dict[str, Path]) -> Path:
    return _write(tmp_path, {"name": "m" * 300, "path": str(models["tflite"])})


def _yaml_syntax_error(tmp_path: Path, models: dict[str, Path]) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text("name: bad\nmodels:\n  - {name: m, path: m.tflite\nvariants: [tflite]\n")
    return path


def _names_sharing_a_file_name(tmp_path: Path, models: dict[str, Path]) -> Path:
    path = _write(tmp_path, {"name": "a/b", "path": str(models["tflite"])})
    suite = yaml.safe_load(path.read_text())
    suite["models"].append({"name": "a_b", "path": str(models["tflite"])})
    path.write_text(yaml.safe_dump(suite))
    return path


CASES = {
    "truncated tflite": Case(_truncated_tflite, ("models[0].path: ", "m.tflite: not a loadable TFLite model")),
    "random bytes behind a TFL3 header": Case(_random_after_header,
                                              ("models[0].path: ", "m.tflite: not a loadable TFLite model")),
    "directory named m.tflite": Case(_directory_named_tflite,
                                     ("models[0].path: ", "m.tflite is a directory; a .tflite model is a file")),
    "directory that is not a SavedModel": Case(_directory_not_savedmodel,
                                               ("models[0].path: ", "exported is a directory but not a SavedModel")),
    ".keras file that is not Keras": Case(_keras_not_keras,
                                          ("models[0].path: ", "m.keras is not a Keras model file")),
    ".keras zip without a model": Case(_keras_zip_without_model,
                                       ("models[0].path: ", "m.keras: cannot load it as a Keras model")),
    "unknown model suffix": Case(_unknown_model_suffix, ("models[0].path: ", "unknown model file type '.onnx'",
                                                         "allowed: .keras, .h5")),
    "directory that is not an mlpackage": Case(_not_an_mlpackage, ("models[0].path: ", "is not an .mlpackage")),
    "npz that is a plain npy array": Case(_npy_named_npz, ("dataset.npz: ", "d.npz is not a readable npz file")),
    "npz with 0 samples": Case(
        lambda t, m: _npz(t, m, inputs=np.zeros((0, 28, 28, 1), np.float32)),
        ("dataset.npz: ", "d.npz: inputs: no samples")),
    "NaN inputs": Case(
        lambda t, m: _npz(t, m, inputs=np.where(np.arange(6)[:, None, None, None] == 4, np.nan, GOOD_INPUTS)),
        ("dataset.npz: ", "d.npz: inputs: sample 4 holds NaN or infinity (1 such samples)")),
    "infinite representative samples": Case(
        lambda t, m: _npz(t, m, inputs=GOOD_INPUTS, representative=np.full((2, 28, 28, 1), np.inf, np.float32)),
        ("dataset.npz: ", "d.npz: representative: sample 0 holds NaN or infinity")),
    "labels out of range": Case(
        lambda t, m: _npz(t, m, inputs=GOOD_INPUTS, labels=np.array([0, 1, 2, 3, 10, 5])),
        ("dataset.npz: ", "d.npz: labels: label 10 is out of range for model 'm', which has 10 outputs "
                          "(allowed: 0..9)")),
    "negative labels": Case(
        lambda t, m: _npz(t, m, inputs=GOOD_INPUTS, labels=np.array([0, 1, -1, 3, 4, 5])),
        ("dataset.npz: ", "d.npz: labels: label -1 at sample 2 is negative")),
    "string labels": Case(
        lambda t, m: _npz(t, m, inputs=GOOD_INPUTS, labels=np.array(["cat", "dog"] * 3)),
        ("dataset.npz: ", "d.npz: labels: labels must be one integer class index per sample (found dtype <U3")),
    "fewer labels than samples": Case(
        lambda t, m: _npz(t, m, inputs=GOOD_INPUTS, labels=np.arange(4)),
        ("dataset.npz: ", "d.npz: labels: 4 labels for 6 samples")),
    "string inputs": Case(
        lambda t, m: _npz(t, m, inputs=np.array([["a"]] * 6)),
        ("dataset.npz: ", "d.npz: inputs: values must be numbers")),
    "corrupt image in an image folder": Case(_corrupt_image, ("dataset.images: ", "b.png is not a readable image")),
    "wrong sample shape": Case(
        lambda t, m: _npz(t, m, inputs=np.zeros((6, 10), np.float32)),
        ("dataset.npz: ", "d.npz: model 'm', input 'input_layer': expected input_layer float32 (28, 28, 1), "
                          "got float32 (10,)", "models[0]")),
    "300-character model name": Case(_long_name, ("models[0].name: String should have at most 100 characters",)),
    "YAML syntax error": Case(_yaml_syntax_error, ("suite.yaml:4:", "not valid YAML")),
    "two names sharing a file name": Case(_names_sharing_a_file_name,
                                          ("models: names 'a/b', 'a_b' would share the file name 'a_b'",)),
}


@pytest.fixture(scope="module")
def models(tiny_tflite_path: Path) -> dict[str, Path]:
    return {"tflite": tiny_tflite_path}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case: str, tmp_path: Path, models: dict[str, Path],
                                                            capsys: pytest.CaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("BENCHLAB_CACHE_DIR", str(cache))
    suite = CASES[case].make(tmp_path, models)
    results = tmp_path / "results"

    code = main(["run", str(suite), "--results", str(results)])

    err = capsys.readouterr().err
    assert code == 2, err
    # Besides the error, stderr holds only the CLI's progress bars ("optimize", "benchmark"), if started.
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(PROGRESS_BARS)]
    assert len(lines) == 1 and lines[0].startswith("benchlab: error: "), err
    for expected in CASES[case].expected:
        assert expected in lines[0], lines[0]
    assert not results.exists()
    assert not list(cache.glob("variants/*/variant.json"))  # a broken model is never cached as a variant


def test_a_name_with_slashes_is_not_bad_input_and_writes_only_inside_the_run(tmp_path: Path, models: dict[str, Path],
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    from benchlab.results.run_record import load_results

    (tmp_path / "suite").mkdir()
    suite = _write(tmp_path / "suite", {"name": "../../outside/m", "path": str(models["tflite"])})
    results = tmp_path / "results"
    assert main(["run", str(suite), "--results", str(results)]) == 0
    (run,) = results.iterdir()
    assert sorted(p.name for p in (run / "inputs").iterdir()) == ["_.._outside_m.labels.npy", "_.._outside_m.npz"]
    assert [p.name for p in (run / "outputs").iterdir()] == ["_.._outside_m.original.host.cpu.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "results", "suite"]
    assert list(load_results(run)["model"]) == ["../../outside/m"]  # shown verbatim


def test_file_names_are_one_safe_component_and_long_names_stay_distinct() -> None:
    from benchlab.names import MAX_FILE_NAME, file_name

    assert file_name("mnist-dscnn.fp32.host.cpu-t1") == "mnist-dscnn.fp32.host.cpu-t1"  # ordinary ids unchanged
    assert file_name("..") == "_" and file_name("a b/c") == "a_b_c"
    first, second = file_name("x" * 300 + "1"), file_name("x" * 300 + "2")
    assert len(first) == len(second) == MAX_FILE_NAME and first != second


@pytest.mark.parametrize("results", ["a-file", "/proc/benchlab-results"])
def test_an_unusable_results_folder_is_bad_input_before_any_work(results: str, tmp_path: Path,
                                                                 models: dict[str, Path],
                                                                 capsys: pytest.CaptureFixture) -> None:
    """A results path that is a file, or one that cannot be created (even by root: /proc)."""
    (tmp_path / "a-file").write_text("not a folder")
    suite = _write(tmp_path, {"name": "m", "path": str(models["tflite"])})
    target = tmp_path / results if not results.startswith("/") else Path(results)
    assert main(["run", str(suite), "--results", str(target)]) == 2
    err = capsys.readouterr().err
    assert "benchlab: error: " in err and str(target) in err and "optimize" not in err
