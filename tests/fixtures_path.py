"""Where the recorded real-device outputs live, for any test that reads them.

The fixtures are kept outside the repository, in ``shared/fixtures`` beside the clone (locally
/work/shared next to /work/main; CI checks shared/ out beside the clone too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``<folder holding the clone>/shared/fixtures``.
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"

FIXTURES_MISSING_REASON = (
    f"recorded device outputs not found at {FIXTURES}; check out shared/ beside the repository"
)

#: Mark a test module or test that needs the recorded outputs: skipped cleanly without them.
requires_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=FIXTURES_MISSING_REASON)


def fixture_text(relative: str) -> str:
    """Return the text of ``FIXTURES / relative``; skips the calling test if it is missing."""
    path = FIXTURES / relative
    if not path.is_file():
        pytest.skip(f"{FIXTURES_MISSING_REASON} (missing {relative})")
    return path.read_text(encoding="utf-8")
