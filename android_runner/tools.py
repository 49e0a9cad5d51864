"""The native runners for Android: LiteRT's official prebuilt `benchmark_model` and its benchmark
APK, fetched once.

`benchlab tools fetch android` downloads, for each ABI (arm64, armv7), the prebuilt binary and the
prebuilt benchmark APK (the same benchmark code as a foreground app, for ``scenario.android_mode``
app / both; LiteRT's performance-measurement page links both from the same nightly folder) into
benchlab's cache and records each file's sha256 next to it; the sha256 becomes the measurement's
runner hash, so results from different builds are never silently compared. A lab that builds its
own names it with $BENCHLAB_ANDROID_BENCHMARK_MODEL / $BENCHLAB_ANDROID_BENCHMARK_APK instead.
Nothing is downloaded during a run.

Runners with no prebuilt benchlab can pin are the user's: ExecuTorch's executor_runner and llama_main
(built with the NDK) and LiteRT-LM's litert_lm_main (released without a published sha256) are kept
with `benchlab tools add android TOOL PATH` (`add`), and litert_lm_main can be downloaded against the
sha256 the user expects (`fetch_tool`).
"""

from __future__ import annotations

import functools
import json
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path

from benchlab.settings import (
    ANDROID_BENCHMARK_APK,
    ANDROID_BENCHMARK_MODEL,
    ANDROID_EXECUTOR_RUNNER,
    ANDROID_LITERT_LM_MAIN,
    ANDROID_LLAMA_MAIN,
    TOOLS_BASE_URL,
    Setting,
    read,
)
from benchlab.errors import DeviceError, RunnerError, SuiteError
from benchlab.cache_dir import cache_dir
from benchlab.file_hash import path_sha256

#: LiteRT's published nightly prebuilts (tensorflow/lite/tools/benchmark README, "prebuilt").
DEFAULT_BASE_URL = ("https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/release/"
                    "lite/tools/nightly/latest")
#: Android ABI → the prebuilt's file name.
PREBUILTS = {"arm64-v8a": "android_aarch64_benchmark_model", "armeabi-v7a": "android_arm_benchmark_model"}
#: Android ABI → the prebuilt benchmark APK's file name, in the same folder as the binaries.
APK_PREBUILTS = {abi: f"{name}.apk" for abi, name in PREBUILTS.items()}
#: Where each tool is kept in an ABI's folder of tools_dir().
BINARY_NAME = "benchmark_model"
APK_NAME = "benchmark_model.apk"
LITERT_LM_NAME = "litert_lm_main"
#: ExecuTorch's runner for .pte variants: no prebuilt is published, the user builds it and adds it.
EXECUTOR_RUNNER_NAME = "executor_runner"
#: ExecuTorch's LLM runner for .etlm language models (examples/models/llama): built and added by the user too.
LLAMA_MAIN_NAME = "llama_main"
#: How to build llama_main for a phone (ExecuTorch's examples/models/llama README, "Android"), after the
#: executor_runner build's libraries are installed into cmake-out-android.
LLAMA_BUILD_HINT = ("build it in an ExecuTorch checkout after installing its Android libraries (cmake . -B "
                    "cmake-out-android ... -DEXECUTORCH_BUILD_EXTENSION_LLM_RUNNER=ON -DEXECUTORCH_BUILD_KERNELS_LLM=ON "
                    "--target install): cmake examples/models/llama -B cmake-out-android/examples/models/llama "
                    "-DCMAKE_TOOLCHAIN_FILE=$ANDROID_NDK/build/cmake/android.toolchain.cmake -DANDROID_ABI=arm64-v8a "
                    "-DCMAKE_INSTALL_PREFIX=cmake-out-android && cmake --build cmake-out-android/examples/models/llama")
#: The runners `benchlab tools add android TOOL PATH` keeps (one the user built or downloaded).
ADDABLE = (EXECUTOR_RUNNER_NAME, LLAMA_MAIN_NAME, LITERT_LM_NAME)
#: ELF e_machine values (at byte 18, little-endian) of the Android ABIs a built runner may be for.
ELF_MACHINES = {0xB7: "arm64-v8a", 0x28: "armeabi-v7a", 0x3E: "x86_64", 0x03: "x86"}
#: How to build executor_runner for a phone, from ExecuTorch's own Android benchmark script
#: (devtools/scripts/benchmark_android.sh), run in an ExecuTorch checkout with $ANDROID_NDK set.
BUILD_HINT = ("build it in an ExecuTorch checkout: cmake . -B cmake-out-android "
              "-DCMAKE_TOOLCHAIN_FILE=$ANDROID_NDK/build/cmake/android.toolchain.cmake -DANDROID_ABI=arm64-v8a "
              "-DANDROID_PLATFORM=android-26 -DEXECUTORCH_BUILD_EXECUTOR_RUNNER=ON "
              "-DEXECUTORCH_BUILD_EXTENSION_EVALUE_UTIL=ON -DEXECUTORCH_BUILD_EXTENSION_RUNNER_UTIL=ON "
              "-DEXECUTORCH_BUILD_XNNPACK=ON -DEXECUTORCH_ENABLE_LOGGING=ON -DCMAKE_BUILD_TYPE=Release && "
              "cmake --build cmake-out-android --target executor_runner")


class ToolMissing(RunnerError):
    """A tool benchlab runs on the phone (benchmark_model, the benchmark APK, executor_runner,
    litert_lm_main) is not on this machine: the harness's setup, not the phone's or the model's, so
    the job's cause is "harness" and `--resume` runs it once the tool is there. The message says how
    to get it."""


def tools_dir() -> Path:
    """Return the folder fetched runners live in."""
    return cache_dir() / "tools" / "android"


def sha256_file(path: Path) -> str:
    """Return a file's sha256 (read once per path, size and modification time: a job names and checks
    its model by it, and models are large)."""
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256(path: str, _size: int, _mtime_ns: int) -> str:
    return path_sha256(Path(path))


def fetch(abis: tuple[str, ...] = tuple(PREBUILTS), base_url: str | None = None,
          say: Callable[[str], None] = print, timeout_s: float = 120.0) -> dict[str, Path]:
    """Download the prebuilt benchmark_model and benchmark APK for each ABI; return ABI → binary path.

    Raises DeviceError (with the URL) when a download fails; a partial file never replaces a good one.
    """
    base = (base_url or read(TOOLS_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
    fetched: dict[str, Path] = {}
    for abi in abis:
        fetched[abi] = _download(f"{base}/{PREBUILTS[abi]}", tools_dir() / abi / BINARY_NAME, ANDROID_BENCHMARK_MODEL.name,
                                 timeout_s, say, abi)
        _download(f"{base}/{APK_PREBUILTS[abi]}", tools_dir() / abi / APK_NAME, ANDROID_BENCHMARK_APK.name, timeout_s, say, abi)
    say(f"{LITERT_LM_NAME}: not fetched: {LITERT_LM_HOW}")
    return fetched


#: Why litert_lm_main is not fetched like benchmark_model, and the two ways to get it (one line).
LITERT_LM_HOW = (f"LiteRT-LM publishes no sha256 of its release binaries to pin, so pass the one you expect: "
                 f"`benchlab tools fetch android {LITERT_LM_NAME} --url URL --sha256 HEX`, or keep a file you have: "
                 f"`benchlab tools add android {LITERT_LM_NAME} PATH` (or set {ANDROID_LITERT_LM_MAIN.name})")
#: The runners `fetch_tool` downloads, each only against the sha256 the user expects.
FETCHABLE = (LITERT_LM_NAME,)


def fetch_tool(tool: str, url: str, sha256: str, say: Callable[[str], None] = print, timeout_s: float = 300.0) -> Path:
    """Download a runner that has no hash benchlab can pin (litert_lm_main) from `url`, keep it only if its
    sha256 is `sha256`, and store it as `add` does (under the ABI its ELF header names, with url and sha256
    beside it); return where it is kept.

    Raises SuiteError for another tool or a malformed sha256, DeviceError when the download fails or
    its sha256 differs (nothing is kept).
    """
    if tool not in FETCHABLE:
        raise SuiteError(f"cannot fetch {tool!r} by url (allowed: {', '.join(FETCHABLE)}; `benchlab tools fetch "
                         "android` fetches benchmark_model)")
    expected = sha256.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise SuiteError(f"--sha256 {sha256!r} is not a sha256 (64 hex digits)")
    partial = tools_dir() / f"{tool}.download"
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
        got = sha256_file(partial)
        if got != expected:
            raise DeviceError(f"{url}: sha256 {got} is not the expected {expected}: not kept",
                              hint="check the URL and the hash you were given")
        target = add(tool, partial, say=lambda _: None)
    except OSError as exc:
        raise DeviceError(f"cannot download {url}: {exc}", hint=f"`benchlab tools add android {tool} PATH` "
                                                                 "keeps a file you downloaded") from None
    finally:
        partial.unlink(missing_ok=True)
    target.with_name(target.name + ".json").write_text(json.dumps({"url": url, "sha256": expected}, indent=2))
    say(f"{target} (sha256 {expected[:16]}…, as expected) from {url}")
    return target


def _download(url: str, target: Path, env: str, timeout_s: float, say: Callable[[str], None], abi: str) -> Path:
    """Download `url` to `target` (executable), with its url and sha256 in `target`.json beside it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DeviceError(f"cannot download {url}: {exc}",
                          hint=f"set {env} to a {target.name} you built or copied") from None
    partial.chmod(0o755)
    partial.replace(target)
    sha = sha256_file(target)
    target.with_name(target.name + ".json").write_text(json.dumps({"url": url, "sha256": sha}, indent=2))
    say(f"{abi}: {target} (sha256 {sha[:16]}…) from {url}")
    return target


def runner_binary(abi: str | None) -> Path:
    """Return the benchmark_model to push for a phone's ABI.

    Raises ToolMissing with the command to run when none is configured or fetched.
    """
    return _tool(abi, ANDROID_BENCHMARK_MODEL, BINARY_NAME)


def benchmark_apk(abi: str | None) -> Path:
    """Return the benchmark APK to install on a phone of this ABI.

    Raises ToolMissing whose message says to run `benchlab tools fetch android` (or set
    $BENCHLAB_ANDROID_BENCHMARK_APK) when none is configured or fetched.
    """
    return _tool(abi, ANDROID_BENCHMARK_APK, APK_NAME)


def litert_lm_binary(abi: str | None) -> Path:
    """Return LiteRT-LM's litert_lm_main to push for a phone's ABI (language models, .litertlm).

    LiteRT-LM publishes prebuilts in its GitHub releases but no sha256 of them that benchlab could pin,
    so it is fetched only with the sha256 the user expects (`fetch_tool`) or added from a local file
    (`add`), or named by $BENCHLAB_ANDROID_LITERT_LM_MAIN. Raises ToolMissing saying so when there is none.
    """
    return _tool(abi, ANDROID_LITERT_LM_MAIN, LITERT_LM_NAME, how=LITERT_LM_HOW)


def llama_main_binary(abi: str | None) -> Path:
    """Return ExecuTorch's llama_main to push for a phone's ABI (language models, .etlm).

    Raises ToolMissing saying how to build and add one when none is configured or added.
    """
    return _tool(abi, ANDROID_LLAMA_MAIN, LLAMA_MAIN_NAME,
                 how=f"{LLAMA_BUILD_HINT}, then run `benchlab tools add android llama_main PATH` or set "
                     f"{ANDROID_LLAMA_MAIN.name}")


def executor_runner(abi: str | None) -> Path:
    """Return the executor_runner to push for a phone's ABI.

    Raises ToolMissing saying how to build and add one when none is configured or added.
    """
    return _tool(abi, ANDROID_EXECUTOR_RUNNER, EXECUTOR_RUNNER_NAME,
                 how=f"{BUILD_HINT}, then run `benchlab tools add android executor_runner PATH` or set "
                     f"{ANDROID_EXECUTOR_RUNNER.name}")


def add(tool: str, path: Path, say: Callable[[str], None] = print) -> Path:
    """Keep a runner the user built or downloaded (`benchlab tools add android TOOL PATH`: executor_runner,
    llama_main, litert_lm_main) in benchlab's cache,
    under the ABI its ELF header names, with its source path and sha256 beside it; return where it is kept.

    Raises SuiteError (bad input) for another tool name, a file that is missing or not an Android ELF binary.
    """
    if tool not in ADDABLE:
        raise SuiteError(f"cannot add {tool!r} (allowed: {', '.join(ADDABLE)}; benchmark_model is fetched "
                          "with `benchlab tools fetch android`)")
    if not path.is_file():
        raise SuiteError(f"{path} does not exist or is not a file")
    header = path.read_bytes()[:20]
    machine = int.from_bytes(header[18:20], "little") if header[:4] == b"\x7fELF" else None
    if machine not in ELF_MACHINES:
        raise SuiteError(f"{path} is not an Android binary (an ELF file for {', '.join(ELF_MACHINES.values())})")
    abi = ELF_MACHINES[machine]
    target = tools_dir() / abi / tool
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(path, partial)
    partial.chmod(0o755)
    partial.replace(target)
    sha = sha256_file(target)
    target.with_name(target.name + ".json").write_text(json.dumps({"source": str(path.resolve()), "sha256": sha},
                                                                  indent=2))
    say(f"{abi}: {target} (sha256 {sha[:16]}…) from {path}")
    return target


def _tool(abi: str | None, setting: Setting, name: str, how: str | None = None) -> Path:
    """Return the tool `setting` names, else the one in the ABI's tools folder; raises ToolMissing saying `how`
    to get one (default: fetch it)."""
    configured = read(setting)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ToolMissing(f"{setting.name}={configured} does not exist")
        return path
    folder_abi = abi if abi in PREBUILTS else "arm64-v8a"
    path = tools_dir() / folder_abi / name
    if not path.is_file():
        # The instruction is in the message itself: it becomes the failed row's one-line error.
        how = how or f"run `benchlab tools fetch android` or set {setting.name}"
        raise ToolMissing(f"no {name} for {abi or 'this phone'}: {how}")
    return path
