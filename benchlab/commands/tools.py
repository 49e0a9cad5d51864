"""`benchlab tools fetch` and `benchlab tools add`: a platform's native runners in benchlab's cache.

Runner packages register `benchlab tools fetch PLATFORM` under the `benchlab.tools` entry point
group, so benchlab imports none of them; the module an entry point lives in may also define
`fetch_tool(tool, url, sha256, say)` (a tool with no hash benchlab can pin) and `add(tool, path, say)`
(a runner the user built).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from benchlab.errors import SuiteError

TOOLS_ENTRY_POINT_GROUP = "benchlab.tools"


def _platforms() -> dict[str, EntryPoint]:
    return {e.name: e for e in entry_points(group=TOOLS_ENTRY_POINT_GROUP)}


def _allowed(platforms: dict[str, EntryPoint]) -> str:
    return ", ".join(sorted(platforms)) or "none"


def fetch_tools(platform: str, tool: str | None, url: str | None, sha256: str | None,
                say: Callable[[str], None]) -> None:
    """Download a platform's native runners into benchlab's cache (the only command that downloads):
    all of its pinned runners, or with `tool` the one tool at `url` that must hash to `sha256`.

    Raises SuiteError for a platform with no tools, or a tool asked for without both url and sha256
    (or url and sha256 without a tool).
    """
    platforms = _platforms()
    if platform not in platforms:
        raise SuiteError(f"no runner tools for {platform!r} (allowed: {_allowed(platforms)})")
    if tool is None:
        if url or sha256:
            raise SuiteError("--url and --sha256 name one tool: `benchlab tools fetch PLATFORM TOOL --url URL --sha256 HEX`")
        platforms[platform].load()(say=say)
        return
    # A tool with no hash benchlab can pin is fetched only against the one the user expects.
    if not (url and sha256):
        raise SuiteError(f"fetching {tool} needs --url and the --sha256 you expect of it (no published "
                         "hash can be pinned)")
    fetch_tool = getattr(importlib.import_module(platforms[platform].module), "fetch_tool", None)
    if fetch_tool is None:
        raise SuiteError(f"no runner tools to fetch by url for {platform!r}")
    fetch_tool(tool, url, sha256, say=say)


def add_tool(platform: str, tool: str, path: Path, say: Callable[[str], None]) -> None:
    """Keep a runner the user built (ExecuTorch's executor_runner for Android, ...) in benchlab's cache.

    Raises SuiteError for a platform that takes no such runners; the platform's own errors for the file.
    """
    platforms = _platforms()
    # A platform's tools module (the one its `fetch` entry point lives in) may also take runners users build.
    adder = getattr(importlib.import_module(platforms[platform].module), "add", None) \
        if platform in platforms else None
    if adder is None:
        raise SuiteError(f"no runner tools to add for {platform!r} (allowed: {_allowed(platforms)})")
    adder(tool, path, say=say)
