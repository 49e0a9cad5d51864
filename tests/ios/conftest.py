"""Shared helpers for the iPhone runner tests: where recorded device outputs live."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

#: /work/main/tests/ios/conftest.py → parents[3] is the folder holding the clone and shared/.
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
IOS_FIXTURES = FIXTURES / "ios"
DATA = Path(__file__).resolve().parent / "data"
APP = Path(__file__).resolve().parents[2] / "ios_runner" / "app"


@pytest.fixture
def ios_fixture() -> Callable[[str], str]:
    """Return a reader of ``shared/fixtures/ios/<name>``; it skips the test when the file is missing."""

    def read(name: str) -> str:
        path = IOS_FIXTURES / name
        if not path.is_file():
            pytest.skip(
                f"recorded iPhone output {path} not found; check out shared/ beside the repository"
            )
        return path.read_text(encoding="utf-8")

    return read
