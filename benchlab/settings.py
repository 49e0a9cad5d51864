"""Every environment variable benchlab and its runners read, in one place: its name and what it sets.

A module reads one with `read(SETTING)` at the moment it needs the value (never at import), so a
test or a wrapper script may set it late; the default stays with the code that uses it. Variables
benchlab sets for the libraries it calls (TQDM_DISABLE, TF_USE_LEGACY_KERAS) are not settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name and what it sets."""

    name: str
    description: str


CACHE_DIR = Setting("BENCHLAB_CACHE_DIR", "the cache of built variants, tools and data (default ~/.cache/benchlab)")
CONFIG_DIR = Setting("BENCHLAB_CONFIG_DIR", "benchlab's config folder, e.g. its ADB key (default $XDG_CONFIG_HOME/benchlab)")
XDG_CONFIG_HOME = Setting("XDG_CONFIG_HOME", "the user's config folder (default ~/.config)")
PROFILES_DIR = Setting("BENCHLAB_PROFILES_DIR", "a folder of device profiles used instead of device_profiles/")
CLUSTER = Setting("BENCHLAB_CLUSTER", "the Dask scheduler address of a device farm (as --cluster)")
PARENT_PID = Setting("BENCHLAB_PARENT_PID", "set by benchlab for its host workers: they exit when it is gone")
ANDROID_CONNECT = Setting("BENCHLAB_ANDROID_CONNECT", "host:port of phones on adb over TCP, comma-separated")
ADB_SERVER = Setting("BENCHLAB_ADB_SERVER", '"0": connect to phones directly even when an adb server runs')
ADB_SERVER_PORT = Setting("ANDROID_ADB_SERVER_PORT", "the adb server's port (default 5037), as adb reads it")
ADB_AUTH_TIMEOUT = Setting("BENCHLAB_ADB_AUTH_TIMEOUT_S", "seconds to wait for a phone to accept the ADB key (30)")
ADB_KEY = Setting("BENCHLAB_ADB_KEY", "the ADB private key to use (default the SDK's ~/.android/adbkey)")
TOOLS_BASE_URL = Setting("BENCHLAB_TOOLS_BASE_URL", "where `benchlab tools fetch android` downloads from")
ANDROID_BENCHMARK_MODEL = Setting("BENCHLAB_ANDROID_BENCHMARK_MODEL", "a benchmark_model binary to push instead "
                                  "of the fetched one")
ANDROID_EXECUTOR_RUNNER = Setting("BENCHLAB_ANDROID_EXECUTOR_RUNNER", "an ExecuTorch executor_runner binary to "
                                  "push instead of the one `benchlab tools add android executor_runner` stored")
ANDROID_BENCHMARK_APK = Setting("BENCHLAB_ANDROID_BENCHMARK_APK", "a benchmark APK to install instead of the "
                                "fetched one")
ANDROID_LITERT_LM_MAIN = Setting("BENCHLAB_ANDROID_LITERT_LM_MAIN", "LiteRT-LM's litert_lm_main for Android (arm64) "
                                 "that runs .litertlm language models on phones")
ANDROID_LLAMA_MAIN = Setting("BENCHLAB_ANDROID_LLAMA_MAIN", "an ExecuTorch llama_main binary to push instead of the "
                             "one `benchlab tools add android llama_main` stored (.etlm language models on phones)")
ENERGY_IDLE_WINDOW = Setting("BENCHLAB_ENERGY_IDLE_S", "seconds a phone idles before its first job with energy on, "
                             "to measure its idle power (5; longer averages out more background activity)")
ANDROID_REBOOT_WAIT = Setting("BENCHLAB_ANDROID_REBOOT_WAIT_S", "seconds to wait for a phone that went away mid-run")
USBMUXD = Setting("BENCHLAB_USBMUXD", "host:port of a usbmuxd to reach iPhones through")
IOS_TUNNELD = Setting("BENCHLAB_IOS_TUNNELD", "host:port of pymobiledevice3's tunneld (iOS 17 and later)")
IOS_PAIR_TIMEOUT = Setting("BENCHLAB_IOS_PAIR_TIMEOUT_S", "seconds to wait for an iPhone's trust prompt (0)")
IOS_BUNDLE_ID = Setting("BENCHLAB_IOS_BUNDLE_ID", "the runner app's bundle id, when built with another")
IOS_RUNNER_IPA = Setting("BENCHLAB_IOS_RUNNER_IPA", "the runner app's .ipa, installed on a phone that lacks it")
IOS_PICKUP_TIMEOUT = Setting("BENCHLAB_IOS_PICKUP_TIMEOUT_S", "seconds the runner app has to pick up a job")


def read(setting: Setting) -> str | None:
    """Return the variable's value with surrounding blanks removed, None when it is unset or blank."""
    value = os.environ.get(setting.name, "").strip()
    return value or None
