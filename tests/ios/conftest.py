"""Shared helpers for the iPhone runner tests: where recorded device outputs live, and fake iPhones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ios_runner.jobs
from tests.ios.fake_phone import FakePhone, FakeServices

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


# --- a fake iPhone (tests/ios/fake_phone.py) -----------------------------------------------------


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll the fake app's folders often and call a heartbeat stale after 1.5 s (the app beats every 0.5 s)."""
    monkeypatch.setattr(ios_runner.jobs, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(ios_runner.jobs, "STALE_HEARTBEAT_SECONDS", 1.5)


@pytest.fixture
def make_phone(tmp_path: Path, fast_polling: None) -> Iterator[Callable[..., tuple[FakePhone, FakeServices]]]:
    """Return a maker of one fake iPhone (FakePhone keyword arguments) and its FakeServices; apps stop at the end."""
    made: list[FakeServices] = []

    def make(udid: str = "00008120-001A2B3C4D5E6F70", **options: object) -> tuple[FakePhone, FakeServices]:
        phone = FakePhone(udid=udid, documents=tmp_path / f"phone-{udid}" / "Documents", **options)  # type: ignore[arg-type]
        services = FakeServices([phone])
        made.append(services)
        return phone, services

    yield make
    for services in made:
        services.stop_all()
