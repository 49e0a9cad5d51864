"""The native runner for Android: LiteRT's official prebuilt `benchmark_model`, fetched once.

`benchlab tools fetch android` downloads the prebuilt binaries (arm64 and armv7) into benchlab's
cache and records each file's sha256 next to it; the sha256 becomes the measurement's runner hash,
so results from different binaries are never silently compared. A lab that builds its own binary
names it with $BENCHLAB_ANDROID_BENCHMARK_MODEL instead. Nothing is downloaded during a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path

from benchlab.errors import DeviceError
from benchlab.optimize.cache import cache_dir

#: LiteRT's published nightly prebuilts (tensorflow/lite/tools/benchmark README, "prebuilt").
DEFAULT_BASE_URL = ("https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/release/"
                    "lite/tools/nightly/latest")
BASE_URL_ENV = "BENCHLAB_TOOLS_BASE_URL"
BINARY_ENV = "BENCHLAB_ANDROID_BENCHMARK_MODEL"
#: Android ABI → the prebuilt's file name.
PREBUILTS = {"arm64-v8a": "android_aarch64_benchmark_model", "armeabi-v7a": "android_arm_benchmark_model"}


def tools_dir() -> Path:
    """Return the folder fetched runners live in."""
    return cache_dir() / "tools" / "android"


def sha256_file(path: Path) -> str:
    """Return a file's sha256."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(abis: tuple[str, ...] = tuple(PREBUILTS), base_url: str | None = None,
          say: Callable[[str], None] = print, timeout_s: float = 120.0) -> dict[str, Path]:
    """Download the prebuilt benchmark_model for each ABI; return ABI → path.

    Raises DeviceError (with the URL) when a download fails; a partial file never replaces a good one.
    """
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    fetched: dict[str, Path] = {}
    for abi in abis:
        url = f"{base}/{PREBUILTS[abi]}"
        target = tools_dir() / abi / "benchmark_model"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise DeviceError(f"cannot download {url}: {exc}",
                              hint=f"set {BINARY_ENV} to a benchmark_model you built or copied") from None
        partial.chmod(0o755)
        partial.replace(target)
        sha = sha256_file(target)
        (target.parent / "benchmark_model.json").write_text(json.dumps({"url": url, "sha256": sha}, indent=2))
        say(f"{abi}: {target} (sha256 {sha[:16]}…) from {url}")
        fetched[abi] = target
    return fetched


def runner_binary(abi: str | None) -> Path:
    """Return the benchmark_model to push for a phone's ABI.

    Raises DeviceError with the command to run when none is configured or fetched.
    """
    configured = os.environ.get(BINARY_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise DeviceError(f"{BINARY_ENV}={configured} does not exist")
        return path
    folder_abi = abi if abi in PREBUILTS else "arm64-v8a"
    path = tools_dir() / folder_abi / "benchmark_model"
    if not path.is_file():
        raise DeviceError(f"no benchmark_model for {abi or 'this phone'}",
                          hint=f"run `benchlab tools fetch android` or set {BINARY_ENV}")
    return path
