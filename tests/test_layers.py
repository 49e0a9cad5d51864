"""The stage folders of benchlab import one way: metrics / formats -> plan -> optimize -> execute -> results ->
decide -> views / nightly -> commands (one library function per `benchlab` command).

Read from the source with `ast` (every import statement, at module level or inside a function or
an `if TYPE_CHECKING:` block), followed transitively through the modules outside the stage folders
(records, errors, cache_dir ...), so a new file or a detour through a shared module is checked too.
The `plan` case replaced a cycle: the suite validated options with optimize's registry and the
built-in model took optimize's cache lock; recipes are now handed in, the lock is benchlab.cache_dir.
`metrics` and `formats` come first: every later stage reads their registries (the suite's thresholds,
the tidy table, compare, check and the report read the metrics; the suite, build, plan and delivery
the formats), so they may import nothing but the shared modules.

The command line (cli.py, cli_nightly.py) parses, calls one library function per command (benchlab.commands,
benchlab.pipeline), renders what it returns through benchlab.views and picks the exit code: it imports
nothing else of benchlab but the small modules a command line needs.

Around the package: benchlab names no runner package (runners register by entry point), a runner
package imports nothing of the builder, the results or what renders them (optimize, results,
decide, views, nightly), no Android driver module imports the loopback phone (android_runner/loopback,
the platform's test double that tests/ and benchmarks/ run against), benchmarks/ import nothing
from tests/, and no module but the format plug-ins, the recipes and the runners of one format names a
model format (so a new format is one module plus its recipes and runners).

No package of ours (benchlab, android_runner, ios_runner) has an import cycle at load time, nor one
through an `if TYPE_CHECKING:` import outside an allow-list whose every entry says why (a lazy import in
a function is no edge: it runs once both modules are loaded). A module that needs only the type of one
that imports it names a Protocol in a module of its own instead, as android_runner's job modules name
`job_phone.JobPhone` rather than `device.AndroidDevice`.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "benchlab"
#: The flow: a stage may import its own folder and earlier stages, never a later one.
STAGES: tuple[tuple[str, ...], ...] = (("metrics", "formats"), ("plan",), ("optimize",), ("execute",), ("results",),
                                        ("decide",), ("views", "nightly"), ("commands",))


def _module_files(package: str) -> dict[str, Path]:
    """Return every module of our package `package` by dotted name (a package by its own name)."""
    folder = PACKAGE.parent / package
    modules = {}
    for path in folder.rglob("*.py"):
        parts = (package, *path.relative_to(folder).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _module_files("benchlab")
#: Every module of the packages we ship, for the import-cycle rules.
OUR_MODULES = {name: path for package in ("benchlab", "android_runner", "ios_runner")
               for name, path in _module_files(package).items()}


def _imported(node: ast.AST, module: str, modules: dict[str, Path]) -> set[str]:
    """Return the modules of `modules` that an import statement of `module` loads (none for another node)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names} & modules.keys()
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:  # relative: resolved against the importing package
        package = module if modules[module].name == "__init__.py" else module.rpartition(".")[0]
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    # `from benchlab.plan import suite` imports the module benchlab.plan.suite; it needs the package's own
    # code (its __init__, perhaps still loading) only for a name that is not a submodule.
    submodules = {f"{base}.{alias.name}" for alias in node.names} & modules.keys()
    return (submodules | ({base} if len(submodules) < len(node.names) else set())) & modules.keys()


@cache
def imports_of(module: str) -> frozenset[str]:
    """Return the benchlab modules that `module`'s source imports, anywhere in the file."""
    path = MODULES[module]
    return frozenset(name for node in ast.walk(ast.parse(path.read_text(), str(path)))
                     for name in _imported(node, module, MODULES))


def _is_type_checking(node: ast.AST) -> bool:
    """Return whether `node` is an `if TYPE_CHECKING:` (or `if typing.TYPE_CHECKING:`) block."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@cache
def load_time_imports(module: str, type_checking: bool = False) -> frozenset[str]:
    """Return the modules of our packages that importing `module` imports: its import statements outside
    any function (a lazy import in a function runs once both modules are loaded); with `type_checking`,
    also those under `if TYPE_CHECKING:` (which a type checker and a reader follow)."""
    path = OUR_MODULES[module]
    found: set[str] = set()
    todo: list[ast.AST] = list(ast.parse(path.read_text(), str(path)).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend([*node.body, *node.orelse] if type_checking else node.orelse)
            continue
        found |= _imported(node, module, OUR_MODULES)
        todo.extend(ast.iter_child_nodes(node))
    return frozenset(found - {module})


def _reachable(module: str, edges: Callable[[str], Iterable[str]]) -> set[str]:
    """Return every module `module` reaches through `edges` (what a module imports), directly or not."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for imported in edges(todo.pop()):
            if imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


def reachable_from(module: str) -> set[str]:
    """Return every benchlab module `module` imports directly or through others."""
    return _reachable(module, imports_of)


def import_cycles(edges: Callable[[str], Iterable[str]]) -> set[frozenset[str]]:
    """Return each group of our modules that import one another through `edges`, directly or through
    others (the import graph's strongly connected parts of two or more modules)."""
    reach = {module: _reachable(module, edges) for module in OUR_MODULES}
    return {frozenset({module} | {other for other in reach[module] if module in reach[other]})
            for module in OUR_MODULES if module in reach[module]}


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



CLI = ("benchlab.cli", "benchlab.cli_nightly")
#: What the command line may import: the commands' library functions, the views that render what
#: they return, the argument types, errors and exit codes, output files, settings, and each other.
CLI_MAY_IMPORT = ("benchlab.commands", "benchlab.pipeline", "benchlab.views", "benchlab.cli_types",
                  "benchlab.errors", "benchlab.output_files", "benchlab.settings", *CLI)
#: ... and of other modules only these names: the results root the options default to.
CLI_MAY_IMPORT_NAMES = {"benchlab.results.store": {"DEFAULT_RESULTS"}}


def _imported_names(module: str, source: str) -> set[str]:
    """Return the names `module` imports from the module `source` ("*" for the module itself)."""
    path = MODULES[module]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == source:
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import) and any(alias.name == source for alias in node.names):
            names.add("*")
    return names


@pytest.mark.parametrize("module", CLI)
def test_the_command_line_imports_only_library_functions_views_and_its_own_helpers(module: str) -> None:
    assert "benchlab.errors" in imports_of(module)  # the reader sees the module's imports
    outside = {name: _imported_names(module, name) for name in imports_of(module)
               if not any(name == allowed or name.startswith(f"{allowed}.") for allowed in CLI_MAY_IMPORT)}
    assert {name: sorted(names) for name, names in outside.items()
            if not names <= CLI_MAY_IMPORT_NAMES.get(name, set())} == {}


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


def _with_type_checking(module: str) -> frozenset[str]:
    return load_time_imports(module, type_checking=True)


#: The import cycles that Python never meets because their import back is under `if TYPE_CHECKING:`, for
#: the other module's type alone. Known and left as they are; a new one fails the rule below.
TYPE_ONLY_CYCLES = {
    # suite.py asks datasets.py what data a dataset supplies; datasets.py names Suite and DatasetSpec.
    frozenset({"benchlab.plan.suite", "benchlab.plan.datasets"}),
    # run_record.py reads a run through store.py; store.py's RunStore.finish returns a RunRecord.
    frozenset({"benchlab.results.store", "benchlab.results.run_record"}),
    # sustained.py stops through the executor's StopControl; the executor's sustain() takes a WindowSink.
    frozenset({"benchlab.execute.executor", "benchlab.execute.sustained"}),
    # The loopback phone (a test double): device.py hands each ADB stream to a service of services.py,
    # which reads the LoopbackAdbDevice's folders and faults and writes to the Stream.
    frozenset({"android_runner.loopback.device", "android_runner.loopback.services"}),
}


def test_the_load_time_reader_tells_where_an_import_runs() -> None:
    # Guards the cycle rules below from passing on an empty or wrong graph.
    assert "android_runner.loopback.services" in load_time_imports("android_runner.loopback.device")  # from . import
    assert "android_runner.loopback" not in load_time_imports("android_runner.loopback.device")  # submodules only
    assert "benchlab.plan.suite" not in load_time_imports("benchlab.plan.datasets")  # under TYPE_CHECKING
    assert "benchlab.plan.suite" in _with_type_checking("benchlab.plan.datasets")
    assert "android_runner.discovery" not in _with_type_checking("android_runner")  # lazy, in discover()
    assert "android_runner.pte_jobs" in load_time_imports("android_runner.device")


def test_no_package_of_ours_has_an_import_cycle() -> None:
    # A cycle at load time fails on whichever of its modules is imported first (a name not yet defined).
    assert import_cycles(load_time_imports) == set()


def test_no_import_cycle_hides_under_type_checking_but_the_known_ones() -> None:
    # TYPE_CHECKING hides a cycle from Python, not from a type checker or a reader. The phone drivers have
    # none: android_runner's job modules take a JobPhone, not the AndroidDevice that imports them.
    assert import_cycles(_with_type_checking) == TYPE_ONLY_CYCLES


def test_a_job_module_is_handed_a_phone_that_has_every_call_of_job_phone() -> None:
    # No type checker runs on this project, so JobPhone would drift from AndroidDevice unseen: each of its
    # calls is checked here against AndroidDevice's parameters, each of its attributes against __init__.
    from android_runner.device import AndroidDevice
    from android_runner.job_phone import JobPhone

    calls = [name for name in vars(JobPhone) if not name.startswith("__") and callable(getattr(JobPhone, name))]
    assert {"_push", "_shell", "conditions"} <= set(calls)
    assert {name: list(inspect.signature(getattr(AndroidDevice, name)).parameters) for name in calls} == {
        name: list(inspect.signature(getattr(JobPhone, name)).parameters) for name in calls}
    init = inspect.getsource(AndroidDevice.__init__)
    assert [name for name in JobPhone.__annotations__ if f"self.{name} = " not in init] == []


#: The modules of benchlab/ that may name a model format (a name or a suffix of benchlab.formats), each
#: with why: the plug-ins themselves and what makes or runs one format's files. Every other module (plan,
#: optimize's build loop and sources, execute, results, decide, views, nightly, the pipeline, the CLI)
#: asks the format registry, so a new format is one module plus its recipes and runners.
FORMAT_NAMERS = {
    "benchlab/formats/": "the format plug-ins, one module per format",
    "benchlab/optimize/recipes/": "a recipe names the format it writes (FORMAT) and the kinds it builds from",
    "benchlab/execute/host_runtimes/": "a host runtime names the format it runs on this machine",
    "benchlab/torch_invoke.py": "the child process a .pt2's or .pte's proof starts, one opener per format",
}


def format_literals(path: Path, words: frozenset[str]) -> list[str]:
    """Return "line: 'word'" for each string constant in `path` (f-string parts included, docstrings not)
    that is one of `words`."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [f"{node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in words
            and id(node) not in docstrings]


def test_no_generic_stage_names_a_model_format() -> None:
    from benchlab.formats import registered

    words = frozenset({f.name for f in registered()} | {f.suffix for f in registered()})
    files = {str(path.relative_to(ROOT)): path for path in sorted(PACKAGE.rglob("*.py"))}
    namers = {name for name in files if any(name.startswith(prefix) for prefix in FORMAT_NAMERS)}
    assert {name for name in namers if format_literals(files[name], words)} >= {
        "benchlab/optimize/recipes/asis.py", "benchlab/torch_invoke.py"}  # the reader sees them where they belong
    offending = {name: found for name, path in files.items()
                 if name not in namers and (found := format_literals(path, words))}
    assert offending == {}
