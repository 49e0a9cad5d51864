"""A corpus of bad inputs: each one, run through the real CLI, exits 2 with one line naming the file and
field, and writes nothing (no run folder, no cached variant).

Every case is a suite pointing at one bad model, dataset or field; models are the tiny ones the
session builds (tests/conftest.py), data a handful of arrays, so each case takes about a second.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchlab.cli import main
from tests.helpers.bounded import Finished, run_bounded, run_cli_bounded

GOOD_INPUTS = np.zeros((6, 28, 28, 1), np.float32)
GOOD_LABELS = np.arange(6, dtype=np.int64)
PROGRESS_BARS = ("optimize ", "benchmark ")


@dataclass
class Case:
    """A bad input: `make(tmp_path, models)` writes it and returns the suite file; `expected` must be in the line."""

    make: Callable[[Path, dict[str, Path]], Path]
    expected: tuple[str, ...]


def _write(tmp_path: Path, model: dict, dataset: dict | None = None, variants: list | None = None,
           name: str = "bad", **fields: object) -> Path:
    """Write a one-model suite; `fields` replace top-level fields (`scenario` is merged into the default)."""
    if dataset is None:
        np.savez(tmp_path / "data.npz", inputs=GOOD_INPUTS, labels=GOOD_LABELS)
        dataset = {"npz": "data.npz"}
    scenario = {"warmup": 0, "iterations": 1, **fields.pop("scenario", {})}  # type: ignore[dict-item]
    suite = {"name": name, "models": [model], "dataset": dataset, "variants": variants or ["tflite"],
             "targets": ["host"], "scenario": scenario, **fields}
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


def _tiny(tmp_path: Path, models: dict[str, Path], **fields: object) -> Path:
    """The tiny .tflite model with good data and one suite field changed."""
    return _write(tmp_path, {"name": "m", "path": str(models["tflite"])}, **fields)


def _model_entry(tmp_path: Path, models: dict[str, Path], **entry: object) -> Path:
    return _write(tmp_path, {"name": "m", **entry})


def _duplicate_key(tmp_path: Path, models: dict[str, Path]) -> Path:
    path = _tiny(tmp_path, models)
    path.write_text(path.read_text().replace("  iterations: 1\n", "  iterations: 1\n  iterations: 3\n"))
    return path


def _suite_is_a_directory(tmp_path: Path, models: dict[str, Path]) -> Path:
    (tmp_path / "suite.yaml").mkdir()
    return tmp_path / "suite.yaml"


def _suite_is_a_symlink_loop(tmp_path: Path, models: dict[str, Path]) -> Path:
    (tmp_path / "suite.yaml").symlink_to(tmp_path / "suite.yaml")
    return tmp_path / "suite.yaml"


def _fifo_named_tflite(tmp_path: Path, models: dict[str, Path]) -> Path:
    os.mkfifo(tmp_path / "m.tflite")
    return _write(tmp_path, {"name": "m", "path": "m.tflite"})


CASES = {
    "truncated tflite": Case(_truncated_tflite, ("models[0].path: ", "m.tflite: not a loadable TFLite model")),
    "random bytes behind a TFL3 header": Case(_random_after_header,
                                              ("models[0].path: ", "m.tflite: not a loadable TFLite model")),
    "directory named m.tflite": Case(_directory_named_tflite,
                                     ("models[0].path: ", "m.tflite is a directory; a .tflite model is a regular file")),
    "directory that is not a SavedModel": Case(_directory_not_savedmodel,
                                               ("models[0].path: ", "exported is a directory but not a SavedModel")),
    ".keras file that is not Keras": Case(_keras_not_keras,
                                          ("models[0].path: ", "m.keras is not a Keras model file")),
    ".keras zip without a model": Case(_keras_zip_without_model,
                                       ("models[0].path: ", "m.keras: cannot load it as a Keras model")),
    "unknown model suffix": Case(_unknown_model_suffix, ("models[0].path: ", "unknown model file type '.onnx'",
                                                         "allowed: .keras, .h5")),
    "directory that is not an mlpackage": Case(_not_an_mlpackage, ("models[0].path: ", "is not an .mlpackage")),
    "npz that is a plain npy array": Case(_npy_named_npz, ("dataset.npz: ", "d.npz is not a readable npz file: "
                                                           "it is a single .npy array (np.save), not an npz")),
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
    # Issue 25, round 2.
    "infinite timeout": Case(lambda t, m: _tiny(t, m, scenario={"timeout_seconds": float("inf")}),
                             ("scenario.timeout_seconds: Input should be a finite number",)),
    "timeout of 1e300 seconds": Case(lambda t, m: _tiny(t, m, scenario={"timeout_seconds": 1e300}),
                                     ("scenario.timeout_seconds: Input should be less than or equal to 86400",)),
    "infinite cooldown": Case(lambda t, m: _tiny(t, m, scenario={"cooldown_seconds": float("inf")}),
                              ("scenario.cooldown_seconds: Input should be a finite number",)),
    "NaN accuracy budget": Case(lambda t, m: _tiny(t, m, accuracy={"budget_points": float("nan")}),
                                ("accuracy.budget_points: Input should be a finite number",)),
    "model folder that is a number": Case(lambda t, m: _model_entry(t, m, folder=5),
                                          ("models: folder must be a path, got 5",)),
    "model folder that is null": Case(lambda t, m: _model_entry(t, m, folder=None),
                                      ("models: folder must be a path, got None",)),
    "model path with a NUL byte": Case(lambda t, m: _model_entry(t, m, path="a\0b.tflite"),
                                       ("suite.yaml: path 'a\\x00b.tflite' holds a NUL character",)),
    "unknown accelerator options": Case(
        lambda t, m: _tiny(t, m, accelerators=[{"kind": "cpu", "options": {"xnnpak": False, "num_threads": 8}}]),
        ("accelerators[0]: options.num_threads: not an option of a cpu accelerator (allowed: none)",)),
    "unknown gpu option": Case(
        lambda t, m: _tiny(t, m, accelerators=[{"kind": "gpu", "options": {"precision": "fp16"}}]),
        ("options.precision: not an option of a gpu accelerator (allowed: backend, ",)),
    "duplicate key": Case(_duplicate_key, ("suite.yaml:", "key 'iterations' appears twice in one mapping")),
    "input_shapes for a model that has data": Case(
        lambda t, m: _write(t, {"name": "m", "path": str(m["tflite"]), "input_shapes": {"nonexistent": [3, 3]}}),
        ("models[0].input_shapes: only synthetic inputs use it",)),
    "input_shapes of terabytes": Case(
        lambda t, m: _write(t, {"name": "m", "path": str(m["tflite"]), "input_shapes": {"x": [1_000_000, 1_000_000]}},
                            {"npz": "data.npz"}),
        ("models[0].input_shapes: 'x': [1000000, 1000000] holds 1,000,000,000,000 values per sample",)),
    "no targets": Case(lambda t, m: _tiny(t, m, targets=[]), ("targets: List should have at least 1 item",)),
    "no accelerators": Case(lambda t, m: _tiny(t, m, accelerators=[]),
                            ("accelerators: List should have at least 1 item",)),
    "repeats beyond the bound": Case(lambda t, m: _tiny(t, m, scenario={"repeats": 1_000_000_000_000}),
                                     ("scenario.repeats: Input should be less than or equal to 1000",)),
    "uint64 labels that would wrap to -1": Case(
        lambda t, m: _npz(t, m, inputs=GOOD_INPUTS, labels=np.array([0, 1, 2**64 - 1, 3, 4, 5], np.uint64)),
        ("dataset.npz: ", "d.npz: labels: label 18446744073709551615 at sample 2 is not a class index")),
    "representative of the wrong shape": Case(
        lambda t, m: _npz(t, m, inputs=GOOD_INPUTS, representative=np.zeros((4, 14, 14, 1), np.float32)),
        ("d.npz: representative: model 'm', input 'input_layer': expected input_layer float32 (28, 28, 1), "
         "got float32 (14, 14, 1)",)),
    "suite that is a directory": Case(_suite_is_a_directory, ("suite.yaml: suite file is a directory",)),
    "suite that is a symlink loop": Case(_suite_is_a_symlink_loop,
                                         ("suite.yaml: suite file cannot be read: Too many levels of symbolic links",)),
    "FIFO named m.tflite": Case(_fifo_named_tflite, ("models[0].path: ", "m.tflite is not a regular file (a FIFO",)),
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


# --- Hangs and memory blow-ups: each case runs in a bounded child (tests/helpers/bounded.py), so a
# regression fails its own test; the assertions are on behaviour (refused, small), never on time.

#: Far above what refusing a case takes (the CLI and numpy), far below what the blow-ups took (GBs).
SMALL_MB = 600


def _refused(finished: Finished, *expected: str) -> None:
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    assert finished.returncode == 2 and len(lines) == 1 and lines[0].startswith("benchlab: error: "), finished.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    assert finished.peak_mb < SMALL_MB, finished.peak_mb


def test_a_yaml_alias_that_makes_a_chain_cyclic_is_refused(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text("name: x\nmodels: [{name: m, builtin: quickstart-mnist}]\n"
                                         "variants: [fp32, &v {recipe: prune, then: *v}]\n")
    _refused(run_cli_bounded(["run", "suite.yaml"], tmp_path),
             "suite.yaml:3:", "an alias refers to a mapping or list that contains it (a cycle)")


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ["name: x", "models: [{name: m, builtin: quickstart-mnist}]", "variants: [fp32]",
             "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]  # 10^10 values
    lines.append("accelerators: [{kind: cpu, threads: 1, options: {x: *a9}}]")
    (tmp_path / "suite.yaml").write_text("\n".join(lines) + "\n")
    _refused(run_cli_bounded(["run", "suite.yaml"], tmp_path), "suite.yaml:", "expands to more than 100,000 values")


def test_a_suite_file_over_the_size_cap_is_refused_unparsed(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text("name: x\nnotes: [" + "1, " * 25_000_000 + "1]\n")  # 75 MB
    _refused(run_cli_bounded(["run", "suite.yaml"], tmp_path), "suite.yaml: larger than 1000 KB")


def test_a_count_beyond_its_bound_is_refused_and_a_big_nightly_still_loads(tmp_path: Path,
                                                                           models: dict[str, Path]) -> None:
    from benchlab.optimize.recipes import RECIPES
    from benchlab.plan.suite import MAX_REPEATS, load_suite

    _tiny(tmp_path, models, scenario={"repeats": 1_000_000_000_000})
    _refused(run_cli_bounded(["run", "suite.yaml"], tmp_path),
             "scenario.repeats: Input should be less than or equal to 1000")
    nightly = _tiny(tmp_path, models, scenario={"repeats": MAX_REPEATS, "iterations": 10_000, "warmup": 1000,
                                                "timeout_seconds": 3600})
    assert load_suite(nightly, RECIPES).scenario.repeats == MAX_REPEATS


def _npz_claiming(path: Path, shape: tuple[int, ...], zero_rows: int) -> None:
    """Write an npz whose `inputs` header claims `shape` (float32), followed by `zero_rows` rows of zeros."""
    from numpy.lib import format as npy_format

    row = bytes(int(np.prod(shape[1:])) * 4)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("inputs.npy", "w", force_zip64=True) as member:
            npy_format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": shape})
            for _ in range(zero_rows):
                member.write(row)


def test_limit_reads_only_the_samples_it_asks_for(tmp_path: Path) -> None:
    _npz_claiming(tmp_path / "big.npz", (200_000, 28, 28, 1), 200_000)  # 627 MB of zeros decompressed
    finished = run_bounded("from pathlib import Path\nfrom benchlab.plan.datasets import load_dataset\n"
                           "from benchlab.plan.suite import DatasetSpec\n"
                           "print(load_dataset(DatasetSpec(npz=Path('big.npz'), limit=50)).inputs['inputs'].shape)",
                           tmp_path)
    assert finished.returncode == 0 and "(50, 28, 28, 1)" in finished.stdout, finished.stderr
    assert finished.peak_mb < 400, finished.peak_mb


def test_an_npz_array_too_large_once_decompressed_is_refused_unread(tmp_path: Path, models: dict[str, Path],
                                                                     capsys: pytest.CaptureFixture) -> None:
    _npz_claiming(tmp_path / "d.npz", (1_000_000, 28, 28, 1), 0)  # only the header: nothing to read
    suite = _write(tmp_path, {"name": "m", "path": str(models["tflite"])}, {"npz": "d.npz"})
    assert main(["run", str(suite), "--results", str(tmp_path / "results")]) == 2
    assert ("d.npz: inputs: (1000000, 28, 28, 1) float32 takes 2.9 GiB once decompressed, more than the 2 GiB "
            "benchlab reads (`limit` reads fewer samples)") in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def _greyscale_image_folder(folder: Path, size: int) -> None:
    from PIL import Image

    for label in ("0", "1"):
        (folder / label).mkdir(parents=True)
        Image.new("L", (size, size), int(label) * 255).save(folder / label / "a.png")


def test_a_fifo_in_an_image_folder_is_skipped_not_read(tmp_path: Path, models: dict[str, Path]) -> None:
    _greyscale_image_folder(tmp_path / "images", 8)
    os.mkfifo(tmp_path / "images" / "1" / "b.png")
    _write(tmp_path, {"name": "m", "path": str(models["tflite"])}, {"images": "images"})
    # The 8x8 images do not fit the model: refused right after the folder is read, so nothing is built.
    _refused(run_cli_bounded(["run", "suite.yaml"], tmp_path), "expected input_layer float32 (28, 28, 1), "
                                                                "got float32 (8, 8, 1)")


def test_input_shapes_naming_no_input_of_the_model_is_refused(tmp_path: Path, models: dict[str, Path],
                                                              capsys: pytest.CaptureFixture) -> None:
    suite = _write(tmp_path, {"name": "m", "path": str(models["tflite"]), "input_shapes": {"nonexistent": [3, 3]}})
    raw = yaml.safe_load(suite.read_text())
    del raw["dataset"]  # synthetic inputs: the only data input_shapes shapes
    suite.write_text(yaml.safe_dump(raw))
    assert main(["run", str(suite), "--results", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert "input_shapes: 'nonexistent' is not an input of the model (inputs: input_layer)" in err, err
    assert not (tmp_path / "results").exists()


def test_a_model_symlinked_to_a_blob_without_a_suffix_keeps_the_kind_of_its_name(tmp_path: Path,
                                                                                 models: dict[str, Path]) -> None:
    """The Hugging Face cache layout: snapshots/<rev>/model.tflite -> ../../blobs/<hash>."""
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "0123abcd").write_bytes(models["tflite"].read_bytes())
    (tmp_path / "snapshots" / "rev").mkdir(parents=True)
    (tmp_path / "snapshots" / "rev" / "model.tflite").symlink_to("../../blobs/0123abcd")
    suite = _write(tmp_path, {"name": "m", "path": "snapshots/rev/model.tflite"})
    assert main(["optimize", str(suite)]) == 0


def test_greyscale_images_feed_a_one_channel_model(tmp_path: Path, models: dict[str, Path]) -> None:
    _greyscale_image_folder(tmp_path / "images", 28)
    suite = _write(tmp_path, {"name": "m", "path": str(models["tflite"])}, {"images": "images"})
    assert main(["optimize", str(suite)]) == 0


# --- Command-line arguments: refused before any work, in one line.

def test_a_baseline_that_does_not_exist_is_refused_before_the_suite_runs(tmp_path: Path, models: dict[str, Path],
                                                                         capsys: pytest.CaptureFixture) -> None:
    suite = _tiny(tmp_path, models)
    results = tmp_path / "results"
    assert main(["run", str(suite), "--results", str(results), "--baseline", "20990101-nope"]) == 2
    err = capsys.readouterr().err
    assert "no run '20990101-nope'" in err and "optimize" not in err and not results.exists()


@pytest.mark.parametrize("argv, expected", [
    (["report", "run1", "--budget", "nan"], "argument --budget: 'nan' is not a finite number"),
    (["report", "run1", "--budget", "-5"], "argument --budget: '-5': an accuracy budget is 0 or more"),
    (["worker", "--scheduler", "tcp://farm:8786", "--nthreads", "0"], "argument --nthreads: '0': must be at least 1"),
    (["worker", "--scheduler", "tcp://farm:8786", "--rediscover-seconds", "inf"],
     "argument --rediscover-seconds: 'inf' is not a finite number"),
])
def test_a_bad_number_on_the_command_line_is_refused_by_the_parser(argv: list[str], expected: str,
                                                                   capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and expected in capsys.readouterr().err


@pytest.mark.parametrize("address", ["notaurl", "tcp://farm", "ftp://farm:8786"])
def test_a_scheduler_address_dask_cannot_use_is_one_line(address: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["worker", "--scheduler", address]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"benchlab: error: scheduler address {address!r}: ") and "tcp://HOST:PORT" in line


def test_compare_help_shows_a_plain_percent_sign(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    out = capsys.readouterr().out
    assert "95% CI" in " ".join(out.split()) and "%%" not in out


def test_a_fifo_named_as_the_npz_is_refused_not_read(tmp_path: Path, models: dict[str, Path]) -> None:
    os.mkfifo(tmp_path / "d.npz")
    _write(tmp_path, {"name": "m", "path": str(models["tflite"])}, {"npz": "d.npz"})
    _refused(run_cli_bounded(["run", "suite.yaml"], tmp_path), "dataset.npz: ", "d.npz is not a regular file (a FIFO")
