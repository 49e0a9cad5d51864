"""A new model format is one module in benchlab/formats/ plus the recipes that build it: nothing else changes.

The test writes a throwaway format module, `linear` (a linear model y = x @ w + b kept as an .npz with
`w` and `b`), into a folder it adds to the benchlab.formats package's path, the same discovery a new file
in benchlab/formats/ goes through, and registers a throwaway recipe that writes it. The suite, the
build (its suffix, proof, delivery size, cache and failures), the plan and the delivery check then take
it as they take LiteRT's or ExecuTorch's formats, with no generic stage changed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

import benchlab.formats
from benchlab.decide.delivery import check_delivery
from benchlab.errors import SuiteError
from benchlab.execute.executor import plan_jobs
from benchlab.execute.host_device import HostDevice
from benchlab.formats import format_named, format_of, registered
from benchlab.optimize.build import build_variants
from benchlab.optimize.recipes import RECIPES
from benchlab.optimize.recipes.base import Options, Recipe
from benchlab.plan.datasets import load_model_datasets
from benchlab.plan.suite import load_suite
from benchlab.records import Capabilities, DeviceInfo, Scenario

pytestmark = pytest.mark.usefixtures("module_cache")

#: The whole of the new format: what a file benchlab/formats/linear.py would hold.
LINEAR_MODULE = '''
"""A linear model y = x @ w + b, kept as an .npz holding `w` (inputs x outputs) and `b`."""

from pathlib import Path

import numpy as np

from benchlab.formats.base import ModelFormat, VariantDoesNotRun
from benchlab.tensors import Feeds, ModelIO, TensorInfo


def _weights(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as archive:
        return archive["w"], archive["b"]


class Linear(ModelFormat):
    name = "linear"
    title = "Linear"
    suffix = ".linear"
    accelerator_kinds = frozenset({"cpu"})
    app_platforms = frozenset({"android"})
    described_here = True

    def check_contents(self, path: Path) -> str | None:
        try:
            _weights(path)
        except (OSError, ValueError, KeyError):
            return "is not a linear model (an .npz holding w and b)"
        return None

    def describe(self, path: Path) -> ModelIO:
        w, _ = _weights(path)
        return ModelIO(inputs=(TensorInfo("x", "x", "float32", (1, w.shape[0])),),
                       outputs=(TensorInfo("y", "y", "float32", (1, w.shape[1])),))

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        w, b = _weights(path)
        y = sample["x"].astype(np.float32) @ w.astype(np.float32) + b
        if not np.isfinite(y).all():
            raise VariantDoesNotRun("does not run in numpy: its outputs are not finite")
        return f"ran once in numpy {np.__version__}"

    def delivery_size(self, path: Path) -> int:
        return path.stat().st_size  # an .npz is a zip already: an app stores it as it is


FORMAT = Linear()
'''


class LinearOptions(Options):
    poison: bool = False


class LinearHalf(Recipe):
    """The throwaway recipe: the source's weights stored in float16 (poisoned: a bias that is NaN)."""

    NAME = "linear-half"
    DESCRIPTION = "a linear model's weights in float16"
    FORMAT = "linear"
    SOURCES = frozenset({"linear"})
    OPTIONS = LinearOptions
    QUANTIZES_WEIGHTS = True

    def build(self, source, options: LinearOptions, out_path: Path) -> str:  # type: ignore[override]
        with np.load(source.path) as archive:
            w, b = archive["w"].astype(np.float16), archive["b"].astype(np.float16)
        if options.poison:
            b[0] = np.nan
        with open(out_path, "wb") as handle:  # a file object: np.savez would add ".npz" to a name
            np.savez(handle, w=w, b=b)
        return "weights stored in float16"


@pytest.fixture
def linear_format(tmp_path: Path) -> Iterator[None]:
    """The `linear` format module on the formats package's path, and its recipe in the registry."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "linear.py").write_text(LINEAR_MODULE)
    path = list(benchlab.formats.__path__)
    benchlab.formats.__path__[:] = [*path, str(plugins)]  # where pkgutil looks for the package's modules
    registered.cache_clear()
    RECIPES[LinearHalf.NAME] = LinearHalf()
    try:
        yield
    finally:
        del RECIPES[LinearHalf.NAME]
        benchlab.formats.__path__[:] = path
        registered.cache_clear()
        sys.modules.pop("benchlab.formats.linear", None)


def _suite(folder: Path, model: Path) -> Path:
    path = folder / "linear.yaml"
    path.write_text(yaml.safe_dump({
        "name": "linear", "models": [{"name": "toy", "path": str(model)}],
        "variants": ["linear-half", {"recipe": "linear-half", "name": "poisoned", "options": {"poison": True}}],
        "accelerators": [{"kind": "cpu", "threads": 1}, {"kind": "gpu"}],
    }))
    return path


def _linear_model(path: Path) -> Path:
    with open(path, "wb") as handle:
        np.savez(handle, w=np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32),
                 b=np.zeros(3, np.float32))
    return path


@pytest.mark.usefixtures("linear_format")
def test_a_new_format_module_and_its_recipe_are_built_proved_cached_and_planned(tmp_path: Path) -> None:
    linear = format_named("linear")
    assert linear is not None and format_of(Path("m.linear")) is linear  # found like a module of benchlab/formats/
    suite = load_suite(_suite(tmp_path, _linear_model(tmp_path / "toy.linear")), RECIPES)
    assert suite.models[0].kind == "linear"

    first = {v.name: v for v in build_variants(suite, load_model_datasets(suite))}
    half, poisoned = first["linear-half"], first["poisoned"]
    assert (half.status, half.format, Path(str(half.path)).suffix) == ("built", "linear", ".linear")
    assert half.notes == "weights stored in float16"
    assert half.size_compressed_bytes == half.size_bytes  # the format's own delivery size, not a deflated one
    assert format_named("linear").check_contents(Path(str(half.path))) is None
    # A variant is reported built only once its format ran it: a file its proof refuses is a failed build.
    assert poisoned.status == "failed"
    assert poisoned.error == "linear-half failed: does not run in numpy: its outputs are not finite"

    again = {v.name: v for v in build_variants(suite, load_model_datasets(suite))}
    assert again["linear-half"].status == "cached" and again["linear-half"].sha256 == half.sha256
    assert again["poisoned"].status == "failed" and "failed build from the cache" in again["poisoned"].notes

    # The plan pairs it with the accelerator kinds the format declares; a device runs it when it lists it.
    class Runs:  # a device whose runner lists the format
        info = DeviceInfo(id="phone", platform="test")

        def capabilities(self) -> Capabilities:
            return Capabilities(kinds=frozenset({"cpu", "gpu"}), formats=frozenset({"linear"}))

    jobs = plan_jobs("run", "linear", [half], [Runs()], suite.accelerator_settings(), Scenario(), {})
    assert [job.accelerator.kind for job in jobs] == ["cpu"]
    assert Runs().capabilities().refusal("linear", jobs[0].accelerator) is None
    assert HostDevice().capabilities().refusal("linear", jobs[0].accelerator) == (
        "built, not runnable on this device (linear is not supported here)")
    # Weighed against the stores of the platforms whose apps ship it (Android only).
    assert {check.limit.store for check in check_delivery("toy", half.name, "linear", half.size_bytes).checks} == {
        "Google Play"}


@pytest.mark.usefixtures("linear_format")
def test_a_file_a_new_format_refuses_is_bad_input_at_load(tmp_path: Path) -> None:
    model = tmp_path / "toy.linear"
    model.write_bytes(b"not an npz")
    with pytest.raises(SuiteError, match="is not a linear model"):
        load_suite(_suite(tmp_path, model), RECIPES)



class _Zeros:
    """A training recipe's claim as the build reads it (KerasTrainingRecipe: CLAIM, CLAIM_READ_IN, claim())."""

    CLAIM = "zeros"
    CLAIM_READ_IN = frozenset({"linear"})

    def variant_name(self, options: object) -> str:
        return "prune-50"

    def claim(self, path: Path, options: object) -> str:
        with np.load(path) as archive:
            w = archive["w"]
        return f"{(w == 0).mean():.0%} of weights zero in the {path.suffix}"


@pytest.mark.usefixtures("linear_format")
def test_a_chain_reads_a_training_steps_claim_only_in_the_formats_its_recipe_reads(tmp_path: Path) -> None:
    from benchlab.optimize.build import _with_claims

    def make(out_path: Path) -> str:
        with open(out_path, "wb") as handle:
            np.savez(handle, w=np.zeros((2, 2), np.float32), b=np.zeros(2, np.float32))
        return "written"

    earlier = [(_Zeros(), SimpleNamespace(settings=None))]
    checked = _with_claims(make, earlier, format_named("linear"))  # type: ignore[arg-type]
    assert checked(tmp_path / "m.linear") == "written; kept from prune-50: 100% of weights zero in the .linear"
    elsewhere = _with_claims(make, earlier, format_named("mlpackage"))  # type: ignore[arg-type]
    assert elsewhere(tmp_path / "m.mlpackage") == "written; prune-50's zeros not measured in the .mlpackage"
