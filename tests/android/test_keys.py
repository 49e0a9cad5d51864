"""benchlab reuses the SDK's adbkey when it is a usable key, else makes its own, readable by its
owner only from the first byte, without overwriting what it finds."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from adb_shell.auth.keygen import keygen, write_public_keyfile
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from android_runner import keys
from android_runner.keys import key_path, public_path, signer
from benchlab.errors import DeviceError


@pytest.fixture()
def no_sdk_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No SDK key; benchlab's config folder under tmp_path (returned)."""
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(tmp_path / "absent" / "adbkey"))
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture()
def open_umask() -> Iterator[None]:
    """umask 0: a file created 0666 & ~umask would be world-readable until chmod'ed."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_generates_its_own_key_with_mode_0600(no_sdk_key: Path) -> None:
    path = key_path()
    assert path == no_sdk_key / "adbkey"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "BEGIN PRIVATE KEY" in path.read_text()
    assert key_path() == path and path.read_text() == path.read_text()  # generated once, then reused
    assert signer().GetPublicKey()
    assert sorted(p.name for p in no_sdk_key.iterdir()) == ["adbkey", "adbkey.pub"]  # no partial left


def test_private_key_is_0600_from_its_first_byte_and_its_folder_0700(
        no_sdk_key: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("the key must be created with its final mode, not chmod'ed afterwards")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    linked: list[tuple[int, bytes]] = []
    real_link = os.link

    def spy_link(source: str | Path, target: str | Path) -> None:
        # The moment the key bytes are all written, before the key takes its place.
        linked.append((stat.S_IMODE(os.stat(source).st_mode), Path(source).read_bytes()))
        real_link(source, target)

    monkeypatch.setattr(os, "link", spy_link)
    path = key_path()
    ((mode_when_written, written),) = linked
    assert mode_when_written == 0o600
    assert written == path.read_bytes() and written.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(no_sdk_key.stat().st_mode) == 0o700


def test_a_public_key_without_its_private_key_is_kept_not_overwritten(
        no_sdk_key: Path, caplog: pytest.LogCaptureFixture) -> None:
    no_sdk_key.mkdir()
    orphan = no_sdk_key / "adbkey.pub"
    orphan.write_text("QAAAAOrphanedKeyThatAPhoneMayTrust= someone@lab\n")
    with caplog.at_level(logging.WARNING, logger="android_runner.keys"):
        path = key_path()
    (kept,) = no_sdk_key.glob("adbkey.pub.orphaned-*")
    assert kept.read_text() == "QAAAAOrphanedKeyThatAPhoneMayTrust= someone@lab\n"
    assert str(kept) in caplog.text and "no private key" in caplog.text
    # The new pair belongs together: the new .pub is the new private key's public key.
    assert public_path(path).read_text().split()[0] == signer().GetPublicKey().split()[0]


def test_a_key_another_process_linked_first_is_used_not_replaced(
        no_sdk_key: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs" / "adbkey"
    theirs.parent.mkdir()
    keygen(str(theirs))
    real_link = os.link

    def other_process_wins(source: str | Path, target: str | Path) -> None:
        real_link(theirs, target)  # the other process's key lands first
        real_link(source, target)

    monkeypatch.setattr(os, "link", other_process_wins)
    path = key_path()
    assert path.read_bytes() == theirs.read_bytes()
    assert sorted(p.name for p in no_sdk_key.iterdir()) == ["adbkey"]  # our partial removed
    monkeypatch.setattr(os, "link", real_link)
    assert signer().GetPublicKey().split()[0] == theirs.with_name("adbkey.pub").read_text().split()[0]


def test_reuses_the_sdk_key_so_trusted_phones_stay_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sdk_key = tmp_path / ".android" / "adbkey"
    sdk_key.parent.mkdir()
    keygen(str(sdk_key))
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(sdk_key))
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    assert key_path() == sdk_key
    assert not (tmp_path / "config").exists()
    assert signer().GetPublicKey().split()[0] == public_path(sdk_key).read_text().split()[0]
    # Without its .pub the public key is derived from the private key, not sent empty.
    public_path(sdk_key).unlink()
    scratch = sdk_key.with_name("derived.pub")
    write_public_keyfile(str(sdk_key), str(scratch))
    assert signer().GetPublicKey().split()[0] == scratch.read_text().split()[0]


def _pem(key: object, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()  # type: ignore[attr-defined]


def _unusable_keys() -> dict[str, str]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs8 = _pem(rsa_key, serialization.PrivateFormat.PKCS8)
    return {
        "empty": "",
        "garbage": "this is not a key\n",
        "cut": pkcs8[:300] + "\n-----END PRIVATE KEY-----\n",
        "bad-base64": "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        "ec": _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8),
        "rsa-1024": _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024),
                         serialization.PrivateFormat.PKCS8),
    }


UNUSABLE = _unusable_keys()


@pytest.mark.parametrize("kind", sorted(UNUSABLE))
def test_an_unusable_sdk_key_warns_and_falls_back_to_benchlabs_own(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    sdk_key = tmp_path / ".android" / "adbkey"
    sdk_key.parent.mkdir()
    sdk_key.write_text(UNUSABLE[kind])
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(sdk_key))
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    with caplog.at_level(logging.WARNING, logger="android_runner.keys"):
        assert key_path() == tmp_path / "config" / "adbkey"
        assert signer().GetPublicKey()
    assert f"{sdk_key} is not a usable ADB key" in caplog.text
    assert sdk_key.read_text() == UNUSABLE[kind]  # the SDK's file is left as it was


def test_benchlabs_own_key_unusable_is_a_device_error_saying_what_to_delete(no_sdk_key: Path) -> None:
    no_sdk_key.mkdir()
    (no_sdk_key / "adbkey").write_text("")
    with pytest.raises(DeviceError, match="not usable \\(empty file\\)") as raised:
        signer()
    assert raised.value.hint is not None and str(no_sdk_key / "adbkey") in raised.value.hint


def test_an_unwritable_config_folder_is_a_device_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(tmp_path / "absent"))
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(blocker / "config"))  # a folder under a file
    with pytest.raises(DeviceError, match="cannot create benchlab's ADB key"):
        key_path()


def test_benchlab_devices_with_an_empty_sdk_key_lists_the_phone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        caplog: pytest.LogCaptureFixture) -> None:
    """The reported crash: an empty ~/.android/adbkey made `benchlab devices` print a traceback."""
    from benchlab.cli import main
    from android_runner.loopback import FLAGSHIP, LoopbackAdbDevice

    sdk_key = tmp_path / "home" / ".android" / "adbkey"
    sdk_key.parent.mkdir(parents=True)
    sdk_key.write_text("")
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(sdk_key))
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BENCHLAB_ADB_SERVER", "0")
    monkeypatch.setenv("COLUMNS", "250")
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_new_keys=True) as phone:
        monkeypatch.setenv("BENCHLAB_ANDROID_CONNECT", phone.serial)
        with caplog.at_level(logging.WARNING, logger="android_runner.keys"):
            assert main(["devices"]) == 0
        # The phone was offered benchlab's own key, the one it now trusts.
        trusted = {key.encoded for key in phone.authorized_keys}
    line = next(line for line in capsys.readouterr().out.splitlines() if phone.serial in line)
    assert "SM-S921U" in line and "ready" in line
    assert "is not a usable ADB key (empty file)" in caplog.text
    own_public = public_path(tmp_path / "config" / "adbkey").read_text().split()[0]
    assert own_public in trusted
    assert keys.key_path() == tmp_path / "config" / "adbkey"
