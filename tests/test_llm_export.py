"""Language models exported from a Hugging Face model directory (model kind `hf`): litert-torch's generative
export in float32, int8 and int4 (benchlab.optimize.recipes.litert_lm_export), each proven to prefill and
decode in LiteRT-LM before it is reported built, then measured side by side in the LLM matrix.

The directory is examples/tiny_llm.py's two-layer Qwen3 config and tokenizer, without weights (random
ones, nothing downloaded). An export takes about a minute on a quiet 2-core machine, so the module
exports once: int4 (export, then ai-edge-quantizer's dynamic_wi4_afp32, then the .litertlm bundle),
with one small prefill signature and cache, and measures it beside the as-is float32 tiny model that
`make tiny-llm` exported with the same exporter. The three recipes side by side are
suites/llm-tiny.yaml's run (README: the figures)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchlab.errors import SuiteError
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import HF_KIND, load_suite
from examples import tiny_llm
from tests.test_llm import tiny_models

pytestmark = pytest.mark.usefixtures("module_cache")
RECIPE_NAMES = ("litert-lm-fp32", "litert-lm-int8", "litert-lm-int4")


def suite_file(folder: Path, hf: Path, variants: list) -> Path:
    path = folder / "export.yaml"
    path.write_text(yaml.safe_dump({
        "name": "llm-export", "models": [{"name": "tiny-qwen3-hf", "path": str(hf)}], "variants": variants,
        "accelerators": [{"kind": "cpu", "threads": 1}],
        "scenario": {"repeats": 2, "llm": {"prefill": [32], "decode": [8], "kv_cache": 256, "cache": "cold"}},
    }))
    return path


def test_a_hugging_face_directory_is_a_model_kind_of_its_own(tmp_path: Path) -> None:
    hf = tiny_llm.write_hf(tmp_path / "tiny-qwen3-hf")
    suite = load_suite(suite_file(tmp_path, hf, list(RECIPE_NAMES)), RECIPES)
    assert suite.models[0].kind == HF_KIND
    assert [name for name, recipe in RECIPES.items() if recipe.applies_to(HF_KIND)] == list(RECIPE_NAMES)
    (hf / "tokenizer.json").unlink()
    with pytest.raises(SuiteError, match="Hugging Face model directory without a tokenizer") as error:
        load_suite(suite_file(tmp_path, hf, list(RECIPE_NAMES)), RECIPES)
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """One run: int4 exported from the weightless directory beside the float32 tiny .litertlm, each cell twice."""
    import benchlab

    folder = tmp_path_factory.mktemp("llm-export")
    hf = tiny_llm.write_hf(folder / "tiny-qwen3-hf")
    suite = suite_file(folder, hf, ["litertlm", {"recipe": "litert-lm-int4", "options": {
        "prefill_lengths": [32], "cache_length": 256}}])  # one prefill signature: an export's time is per signature
    raw = yaml.safe_load(suite.read_text())
    raw["models"].append({"name": "tiny-qwen3", "path": str(tiny_models() / "tiny-qwen3.litertlm")})
    suite.write_text(yaml.safe_dump(raw))
    return benchlab.run(suite, folder / "results")


def test_an_int4_export_is_built_proven_and_measured_beside_the_float32_model(exported) -> None:
    variants = {v.recipe: v for v in exported.record.variants}
    int4 = variants["litert-lm-int4"]
    # "built" only after the file prefilled and decoded in LiteRT-LM (benchlab.formats.language_model)
    assert int4.status == "built" and int4.format == "litertlm" and "random weights" in (int4.notes or "")
    assert int4.size_bytes < variants["litertlm"].size_bytes  # int4 weights (and one signature) against float32
    rows = exported.record.results.set_index("recipe")
    assert (rows["status"] == "ok").all(), list(rows["error"])
    assert set(rows["accelerator"]) == {"cpu-t1@pp32-tg8"} and (rows["decode_tps_repeats"] == 2).all()
    assert (rows["llm_prefill_tokens"] == 32).all() and (rows["llm_decode_tokens"] == 8).all()
    assert (rows["decode_tps"] > 0).all() and (rows["peak_memory_mb"] > 0).all()
