"""Reading a YAML file a user wrote: bounded in size and in what its aliases expand to, without cycles
or duplicate keys.

PyYAML's safe loader shares an aliased node instead of copying it, so a "billion laughs" file is
small in memory until something walks it (validation, run.json) and expands every alias, and an
alias inside the mapping it names is a cycle such a walk never leaves. Both are checked on the
composed node graph, before a single Python object is built. A duplicate key would otherwise let
the last one win silently (`repeats: 2, repeats: 3`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from benchlab.errors import SuiteError
from benchlab.plan.files import file_problem

#: Largest file read: a suite with a hundred models is a few KB; a 50 MB one is a mistake or an attack.
MAX_FILE_BYTES = 1_000_000
#: Most nodes (scalars, lists, mappings) the document may hold with every alias expanded.
MAX_NODES = 100_000
MERGE_TAG = "tag:yaml.org,2002:merge"


def read_yaml(path: Path, what: str = "suite file") -> Any:
    """Return the parsed document of a YAML file (None when empty).

    Raises SuiteError naming the file (and line and column where there is one) when it is not a
    regular file, is larger than MAX_FILE_BYTES, is not valid UTF-8 YAML, nests too deeply, has an
    alias cycle, expands to more than MAX_NODES nodes or repeats a key in one mapping.
    """
    problem = file_problem(path)
    if problem is not None:
        raise SuiteError(f"{path}: {what} {'not found' if problem == 'does not exist' else problem}")
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)  # read no more than the cap, whatever the file grew to
    if len(data) > MAX_FILE_BYTES:
        raise SuiteError(f"{path}: larger than {MAX_FILE_BYTES // 1000} KB; a {what} is a few KB")
    loader = yaml.SafeLoader(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node, path)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise SuiteError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise SuiteError(f"{path}: not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def _at(path: Path, node: Node) -> str:
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _check_graph(root: Node, path: Path) -> None:
    """Raise SuiteError for an alias cycle, a duplicate key or more than MAX_NODES expanded nodes."""
    sizes: dict[int, int] = {}  # expanded size of each node already walked, by id: aliases share nodes
    walking: set[int] = set()

    def size(node: Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in walking:
            raise SuiteError(f"{_at(path, node)}: an alias refers to a mapping or list that contains it (a cycle)")
        walking.add(id(node))
        if isinstance(node, MappingNode):
            _no_duplicate_keys(node, path)
            children = [child for pair in node.value for child in pair]
        else:
            children = node.value if isinstance(node, SequenceNode) else []
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise SuiteError(f"{_at(path, node)}: expands to more than {MAX_NODES:,} values "
                                 "(aliases repeated inside aliases?)")
        walking.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


def _no_duplicate_keys(node: MappingNode, path: Path) -> None:
    seen: dict[tuple[str, str], Node] = {}
    for key, _value in node.value:
        if key.tag == MERGE_TAG or not isinstance(key.value, str):
            continue  # `<<: *defaults` is overridden on purpose; a list or mapping as a key is refused later
        first = seen.setdefault((key.tag, key.value), key)
        if first is not key:
            raise SuiteError(f"{_at(path, key)}: key {key.value!r} appears twice in one mapping "
                             f"(first at line {first.start_mark.line + 1}); keep one")
