"""Finding the plug-in modules of a registry package (benchlab.metrics, benchlab.formats).

Each plug-in is a module of its package defining one declared attribute (`METRIC`, `FORMAT`), so a
new one is one new file: nothing lists them by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def discover(package: str, path: Iterable[str], attribute: str, kind: type[T],
             support: frozenset[str]) -> list[T]:
    """Return the `attribute` of every module of `package` (found on `path`) but the `support` ones.

    Raises TypeError naming the module when one has no `attribute` of type `kind`, and ValueError
    when two plug-ins share a name (their `name` attribute).
    """
    found: list[T] = []
    for info in pkgutil.iter_modules(path):
        if info.name in support:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        plugin = getattr(module, attribute, None)
        if not isinstance(plugin, kind):
            raise TypeError(f"{module.__name__} defines no {attribute} (a {kind.__module__}.{kind.__name__})")
        found.append(plugin)
    names = [getattr(p, "name") for p in found]
    if len(set(names)) != len(names):
        raise ValueError(f"two modules of {package} declare the same name: {sorted(names)}")
    return found
