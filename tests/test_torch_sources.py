"""PyTorch sources: a `module:` factory or a .pt2 becomes a "torch" model with named, typed inputs; a .pte is
used as it is; every unusable one is refused in one line naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchlab.errors import SuiteError
from benchlab.optimize.recipes import RECIPES
from benchlab.optimize.source import SourceModel
from benchlab.plan.suite import load_suite

REPO = Path(__file__).resolve().parents[1]


def _suite(folder: Path, model: dict, variants: list[str] | None = None) -> Path:
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "models": [{"name": "m", **model}], "variants": variants or ["torch"]}))
    return path


def _source(suite_path: Path) -> SourceModel:
    suite = load_suite(suite_path, RECIPES)
    return SourceModel(suite.models[0], None, lambda _: None, suite.where("models[0]"))


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SourceModel]:
    """examples.torch_models:tiny_bert, loaded once through a suite that names it relative to its folder."""
    folder = tmp_path_factory.mktemp("bert")
    source = _source(_suite(folder, {"module": "examples.torch_models:tiny_bert", "module_root": str(REPO)}))
    yield source
    source.close()


def test_a_module_factory_is_a_torch_model_with_named_int64_inputs(bert: SourceModel) -> None:
    program = bert.torch_program
    assert bert.kind == "torch" and program.input_names == ("input_ids", "attention_mask")
    assert [(t.name, t.dtype, t.shape) for t in bert.inputs] == [("input_ids", "int64", (1, 32)),
                                                                  ("attention_mask", "int64", (1, 32))]
    assert [t.dtype for t in program.example_inputs] == [program.example_inputs[0].dtype] * 2  # torch.int64 both
    assert bert.output_size == 64 and not program.module.training
    ids = bert.dataset.inputs["input_ids"]
    assert ids.dtype == np.int64 and set(np.unique(ids)) <= {0, 1}  # valid token ids and mask values for any vocab


def test_a_module_source_is_keyed_by_its_content_and_saved_as_a_loadable_pt2(bert: SourceModel, tmp_path: Path) -> None:
    again = _source(_suite(tmp_path, {"module": "examples.torch_models:tiny_bert", "module_root": str(REPO)}))
    try:
        assert again.sha256 == bert.sha256  # example ids drawn at random do not change the key
    finally:
        again.close()
    from_file = _source(_suite(tmp_path, {"path": str(bert.path)}))
    assert from_file.kind == "torch" and from_file.inputs == bert.inputs
    assert from_file.torch_program.input_names == ("input_ids", "attention_mask")


def test_a_module_is_imported_from_the_suite_s_folder(tmp_path: Path) -> None:
    (tmp_path / "nets.py").write_text("import torch\n\ndef linear():\n"
                                      "    return torch.nn.Linear(3, 2).eval(), (torch.ones(1, 3),)\n")
    source = _source(_suite(tmp_path, {"module": "nets:linear"}))
    try:
        assert [(t.name, t.shape) for t in source.inputs] == [("input", (1, 3))]
    finally:
        source.close()


@pytest.mark.parametrize(("code", "expected"), [
    ("def make():\n    raise OSError('weights.bin is missing')\n",
     "models[0].module: nets:make: the factory raised OSError: weights.bin is missing"),
    ("def make():\n    return 3\n", "the factory must return (nn.Module, example inputs), got int"),
    ("import torch\ndef make():\n    return torch.nn.Linear(3, 2), (torch.ones(1, 3),)\n", "in training mode"),
    ("import torch\ndef make():\n    return torch.nn.Linear(3, 2).eval(), {'y': torch.ones(1, 3)}\n",
     "example input 'y' is not a parameter of forward (input)"),
    ("def other():\n    pass\n", "has no function 'make'"),
])
def test_an_unusable_factory_is_refused_in_one_line(tmp_path: Path, code: str, expected: str) -> None:
    (tmp_path / "nets.py").write_text(code)
    with pytest.raises(SuiteError, match="^[^\n]*$") as caught:
        _source(_suite(tmp_path, {"module": "nets:make"}))
    assert expected in str(caught.value) and str(tmp_path / "suite.yaml") in str(caught.value)


@pytest.mark.parametrize(("model", "expected"), [
    ({"module": "nets.make"}, "models[0].module: 'nets.make' is not `package.module:factory`"),
    ({"module": "nets:make", "path": "m.pt2"}, "give exactly one of `path`, `builtin` or `module`"),
    ({"path": "m.pt2"}, "m.pt2 is not a torch.export program (.pt2 is the zip archive torch.export.save writes)"),
    ({"path": "m.pte"}, "m.pte is not an ExecuTorch program (no ET12 identifier at bytes 4-8)"),
])
def test_a_bad_torch_source_is_refused_when_the_suite_loads(tmp_path: Path, model: dict, expected: str) -> None:
    (tmp_path / "m.pt2").write_bytes(b"not a zip archive")
    (tmp_path / "m.pte").write_bytes(b"12345678")
    with pytest.raises(SuiteError, match="^[^\n]*$") as caught:
        load_suite(_suite(tmp_path, model, ["pte" if str(model.get("path")).endswith(".pte") else "torch"]), RECIPES)
    assert expected in str(caught.value)


def test_an_iphone_says_not_yet_for_a_pte_in_one_line() -> None:
    from benchlab.records import AcceleratorSetting, Capabilities
    from ios_runner.device import NOT_YET

    iphone = Capabilities(kinds=frozenset({"cpu", "coreml"}), formats=frozenset({"tflite", "mlpackage"}),
                          not_yet=NOT_YET)
    refusal = iphone.refusal("pte", AcceleratorSetting(name="cpu-t1", kind="cpu", threads=1))
    assert refusal == ("not yet: the iPhone runner app has no ExecuTorch runtime yet; .pte variants run on the host "
                       "and on Android phones (executor_runner)")
