"""benchlab reuses the SDK's adbkey when there is one, else makes its own, readable by its owner only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from android_runner.keys import key_path, signer


def test_generates_its_own_key_with_mode_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(tmp_path / "absent" / "adbkey"))
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    path = key_path()
    assert path == tmp_path / "config" / "adbkey"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "BEGIN PRIVATE KEY" in path.read_text()
    assert key_path() == path and path.read_text() == path.read_text()  # generated once, then reused
    assert signer().GetPublicKey()


def test_reuses_the_sdk_key_so_trusted_phones_stay_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adb_shell.auth.keygen import keygen

    sdk_key = tmp_path / ".android" / "adbkey"
    sdk_key.parent.mkdir()
    keygen(str(sdk_key))
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(sdk_key))
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    assert key_path() == sdk_key
    assert not (tmp_path / "config").exists()
    assert signer().GetPublicKey().startswith(sdk_key.with_suffix(".pub").read_text().split()[0][:20])
