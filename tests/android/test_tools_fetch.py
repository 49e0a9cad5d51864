"""`benchlab tools fetch android` downloads the prebuilt runners; served here from loopback."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from android_runner.tools import APK_PREBUILTS, PREBUILTS, ToolMissing, litert_lm_binary, runner_binary
from benchlab.cli import main

# The fetched runners land in a cache of this module's own: what it holds is asserted here, and the
# stand-in binaries never reach the session's cache where other tests (on another worker) look for runners.
pytestmark = pytest.mark.usefixtures("module_cache")


@pytest.fixture()
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 laid out like the prebuilts' folder."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_stores_each_abi_with_its_sha256(mirror: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    url, folder = mirror
    payloads = {abi: f"\x7fELF {abi} runner".encode() * 100 for abi in PREBUILTS}
    for abi, name in PREBUILTS.items():
        (folder / name).write_bytes(payloads[abi])
        (folder / APK_PREBUILTS[abi]).write_bytes(b"PK\x03\x04 apk")  # app mode's APK is fetched beside it
    monkeypatch.setenv("BENCHLAB_TOOLS_BASE_URL", url)
    monkeypatch.delenv("BENCHLAB_ANDROID_BENCHMARK_MODEL", raising=False)
    assert main(["tools", "fetch", "android"]) == 0
    for abi in PREBUILTS:
        binary = runner_binary(abi)
        assert binary.read_bytes() == payloads[abi]
        assert binary.stat().st_mode & 0o111
        meta = json.loads((binary.parent / "benchmark_model.json").read_text())
        assert meta["sha256"] == hashlib.sha256(payloads[abi]).hexdigest()
        assert meta["url"] == f"{url}/{PREBUILTS[abi]}"


def test_a_failed_download_is_one_line_and_exit_3(mirror: tuple[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    url, _ = mirror  # empty folder: every download is a 404
    monkeypatch.setenv("BENCHLAB_TOOLS_BASE_URL", url)
    assert main(["tools", "fetch", "android"]) == 3
    # The loopback server logs its requests to stderr too; benchlab's own part is one line.
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("benchlab:")]
    assert len(ours) == 1 and "cannot download" in ours[0] and "404" in ours[0]


def test_unknown_platform_exits_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["tools", "fetch", "symbian"]) == 2
    assert "allowed: android" in capsys.readouterr().err


#: An arm64 ELF header (e_machine 0xB7 at byte 18), enough for `tools add`'s ABI check.
ARM64_ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + b"\xb7\x00" + b"litert_lm_main stand-in" * 50


def test_litert_lm_main_is_fetched_only_against_the_sha256_the_user_expects(
        mirror: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    url, folder = mirror
    monkeypatch.delenv("BENCHLAB_ANDROID_LITERT_LM_MAIN", raising=False)
    (folder / "litert_lm_main").write_bytes(ARM64_ELF)
    good = hashlib.sha256(ARM64_ELF).hexdigest()
    # No hash to pin: the plain fetch says so in one line and how to get it.
    for abi, name in PREBUILTS.items():
        (folder / name).write_bytes(b"\x7fELF runner")
        (folder / APK_PREBUILTS[abi]).write_bytes(b"PK\x03\x04 apk")
    monkeypatch.setenv("BENCHLAB_TOOLS_BASE_URL", url)
    assert main(["tools", "fetch", "android"]) == 0
    captured = capsys.readouterr()
    said = " ".join((captured.out + captured.err).split())  # the console wraps its lines at the terminal's width
    assert "litert_lm_main: not fetched: LiteRT-LM publishes no sha256" in said and "--sha256 HEX" in said
    assert "tools add android litert_lm_main PATH" in said
    # Without the expected hash nothing is downloaded; a wrong one keeps nothing; the right one is stored.
    assert main(["tools", "fetch", "android", "litert_lm_main", "--url", f"{url}/litert_lm_main"]) == 2
    assert "--sha256" in capsys.readouterr().err
    assert main(["tools", "fetch", "android", "litert_lm_main", "--url", f"{url}/litert_lm_main",
                 "--sha256", "0" * 64]) == 3
    assert "is not the expected" in capsys.readouterr().err
    with pytest.raises(ToolMissing, match="sha256"):
        litert_lm_binary("arm64-v8a")
    assert main(["tools", "fetch", "android", "litert_lm_main", "--url", f"{url}/litert_lm_main",
                 "--sha256", good.upper()]) == 0
    kept = litert_lm_binary("arm64-v8a")
    assert kept.read_bytes() == ARM64_ELF and kept.stat().st_mode & 0o111
    assert json.loads((kept.parent / "litert_lm_main.json").read_text()) == {"url": f"{url}/litert_lm_main",
                                                                           "sha256": good}
