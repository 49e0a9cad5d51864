"""Every Swift source of the runner app parses (`swiftc -parse`), where a Swift toolchain exists.

`-parse` checks syntax only and does not resolve imports, so SwiftUI, CoreML and the LiteRT
frameworks need not be present. On machines without `swiftc` (Debian bookworm has no Swift
package) the test is skipped; a Mac with Xcode or a Linux Swift toolchain runs it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

APP_SOURCES = Path(__file__).resolve().parents[2] / "ios_runner" / "app" / "BenchlabRunner"
SWIFT_FILES = sorted(APP_SOURCES.glob("*.swift"))
SWIFTC = shutil.which("swiftc")

pytestmark = pytest.mark.skipif(
    SWIFTC is None, reason="swiftc not found: no Swift toolchain on this machine to parse the app sources"
)


def test_there_are_swift_sources() -> None:
    assert len(SWIFT_FILES) >= 5


@pytest.mark.parametrize("path", SWIFT_FILES, ids=lambda path: path.name)
def test_swift_file_parses(path: Path) -> None:
    assert SWIFTC is not None
    done = subprocess.run(
        [SWIFTC, "-parse", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"swiftc -parse {path.name}:\n{done.stderr}"
