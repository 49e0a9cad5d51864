"""The stage folders of benchlab import one way: metrics / formats -> plan -> optimize -> execute -> results ->
decide -> views / nightly.

Read from the source with `ast` (every import statement, at module level or inside a function or
an `if TYPE_CHECKING:` block), followed transitively through the modules outside the stage folders
(records, errors, cache_dir ...), so a new file or a detour through a shared module is checked too.
The `plan` case replaced a cycle: the suite validated options with optimize's registry and the
built-in model took optimize's cache lock; recipes are now handed in, the lock is benchlab.cache_dir.
`metrics` and `formats` come first: every later stage reads their registries (the suite's thresholds,
the tidy table, compare, check and the report read the metrics; the suite, build, plan and delivery
the formats), so they may import nothing but the shared modules.

Around the package: benchlab names no runner package (runners register by entry point), a runner
package imports nothing of the builder, the results or what renders them (optimize, results,
decide, views, nightly), no Android driver module imports the loopback phone (android_runner/loopback,
the platform's test double that tests/ and benchmarks/ run against), and benchmarks/ import nothing
from tests/.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "benchlab"
#: The flow: a stage may import its own folder and earlier stages, never a later one.
STAGES: tuple[tuple[str, ...], ...] = (("metrics", "formats"), ("plan",), ("optimize",), ("execute",), ("results",),
                                        ("decide",), ("views", "nightly"))


def _module_files() -> dict[str, Path]:
    """Return every module of the package by dotted name (a package by its own name)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("benchlab", *path.relative_to(PACKAGE).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _module_files()


@cache
def imports_of(module: str) -> frozenset[str]:
    """Return the benchlab modules that `module`'s source imports, anywhere in the file."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from benchlab.plan import suite` imports the module benchlab.plan.suite
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return frozenset(name for name in found if name in MODULES)


def reachable_from(module: str) -> set[str]:
    """Return every benchlab module `module` imports directly or through others."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for imported in imports_of(todo.pop()):
            if imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


def stage_of(module: str) -> int | None:
    """Return the rank of the stage folder `module` is in, or None outside the stage folders."""
    parts = module.split(".")
    for rank, folders in enumerate(STAGES):
        if len(parts) > 1 and parts[1] in folders:
            return rank
    return None


def test_the_import_reader_sees_real_imports() -> None:
    # Guards the checks below from passing on an empty graph.
    assert "benchlab.plan.suite" in imports_of("benchlab.optimize.build")
    assert "benchlab.optimize.cache" in imports_of("benchlab.optimize.build")
    assert "benchlab.plan.datasets" in imports_of("benchlab.plan.builtin_models")  # a lazy import in a function
    assert "benchlab.optimize.source" in imports_of("benchlab.optimize.recipes.base")  # under TYPE_CHECKING
    assert "benchlab.optimize.recipes.base" in reachable_from("benchlab.optimize.build")


@pytest.mark.parametrize("rank", range(len(STAGES)), ids=["/".join(folders) for folders in STAGES])
def test_no_stage_imports_a_later_stage(rank: int) -> None:
    modules = [m for m in MODULES if stage_of(m) == rank]
    assert modules, f"no modules found in {STAGES[rank]}"
    backwards = sorted(
        f"{module} -> {later}"
        for module in modules
        for later in reachable_from(module)
        if (later_rank := stage_of(later)) is not None and later_rank > rank
    )
    assert backwards == []



#: Words that name a platform or its protocol; the executor dispatches to Devices and reads what
#: their capabilities() say, so none of these belongs in it.
PLATFORM_WORDS = re.compile(r"\b(android|ios|iphone|ipad|adb|usbmux|coreml|core ml|apk)\b", re.IGNORECASE)


def test_the_executor_names_no_platform() -> None:
    source = (PACKAGE / "execute" / "executor.py").read_text()
    assert PLATFORM_WORDS.findall(source) == []


ROOT = PACKAGE.parent
#: The loopback phone (a device side of ADB on 127.0.0.1, its stand-in tools and a local farm of
#: them): the Android platform's own test double, run by tests/ and benchmarks/, never by a driver.
LOOPBACK = "android_runner.loopback"


def top_level_imports(path: Path) -> set[str]:
    """Return the absolute module names `path` imports (relative imports are its own package's)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _names(found: set[str], prefix: str) -> list[str]:
    return sorted(name for name in found if name == prefix or name.startswith(f"{prefix}."))


def test_benchmarks_import_nothing_from_tests() -> None:
    # A benchmark is run by hand from a checkout; what it needs of a test double lives in the packages.
    offending = {path.name: _names(top_level_imports(path), "tests") for path in (ROOT / "benchmarks").glob("*.py")}
    assert {name: found for name, found in offending.items() if found} == {}
    assert "android_runner.loopback" in top_level_imports(ROOT / "benchmarks" / "farm.py")  # the reader sees them


def test_benchlab_imports_no_runner_package() -> None:
    # Runners register by entry point; the orchestrator and its stages never name one.
    offending = {module: found for module, path in MODULES.items()
                 if (found := _names(top_level_imports(path), "android_runner") + _names(top_level_imports(path), "ios_runner"))}
    assert offending == {}


def test_no_driver_module_imports_the_loopback_phone() -> None:
    drivers = [p for p in (ROOT / "android_runner").rglob("*.py") if "loopback" not in p.relative_to(ROOT).parts]
    assert drivers
    assert {p.name: found for p in drivers if (found := _names(top_level_imports(p), LOOPBACK))} == {}


def test_no_runner_package_imports_a_stage_that_builds_or_reports() -> None:
    # A runner uses the shared modules, the records of plan and execute, and the registries; it
    # never reaches into the builder, the results or what renders them for a helper.
    later = ("benchlab.optimize", "benchlab.results", "benchlab.decide", "benchlab.views", "benchlab.nightly")
    offending = {str(p.relative_to(ROOT)): found for package in ("android_runner", "ios_runner")
                 for p in (ROOT / package).rglob("*.py")
                 if (found := [n for prefix in later for n in _names(top_level_imports(p), prefix)])}
    assert offending == {}
