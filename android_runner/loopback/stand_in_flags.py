"""The command line of a stand-in tool that parses flags the way absl and gflags do (`--name=value`,
a bare `--name` meaning "true"), shared by the loopback phone's litert_lm_main and llama_main."""

from __future__ import annotations

import sys
from collections.abc import Iterable


def parse_flags(argv: list[str], known: Iterable[str], unknown: str) -> dict[str, str]:
    """Return each flag's value by name; on a flag not in `known`, print `unknown` (formatted with
    the flag's `name`: each tool's own wording) to stderr and exit 1, as the real tools do."""
    names = set(known)
    flags = {}
    for arg in argv:
        name, _, value = arg.lstrip("-").partition("=")
        if name not in names:
            print(unknown.format(name=name), file=sys.stderr)
            sys.exit(1)
        flags[name] = value or "true"
    return flags
