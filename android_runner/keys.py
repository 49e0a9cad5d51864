"""The RSA key benchlab signs ADB connections with.

Phones remember which keys they trust, so benchlab reuses the Android SDK's `~/.android/adbkey`
when there is one: a phone that already trusts this lab machine accepts benchlab without a new
prompt. Otherwise a key is generated once in benchlab's config folder, readable by its owner only.
"""

from __future__ import annotations

import os
from pathlib import Path

from adb_shell.auth.keygen import keygen
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

SDK_KEY = Path.home() / ".android" / "adbkey"


def config_dir() -> Path:
    """Return benchlab's config folder: $BENCHLAB_CONFIG_DIR, else $XDG_CONFIG_HOME/benchlab."""
    configured = os.environ.get("BENCHLAB_CONFIG_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "benchlab"


def key_path() -> Path:
    """Return the private key to use, generating benchlab's own (mode 0600) if neither exists."""
    sdk_key = Path(os.environ.get("BENCHLAB_ADB_KEY", SDK_KEY))
    if sdk_key.is_file():
        return sdk_key
    own = config_dir() / "adbkey"
    if not own.is_file():
        own.parent.mkdir(parents=True, exist_ok=True)
        keygen(str(own))  # writes adbkey and adbkey.pub
        own.chmod(0o600)
    return own


def signer() -> PythonRSASigner:
    """Return a signer for the key from `key_path()`."""
    path = key_path()
    public = path.with_suffix(".pub")
    return PythonRSASigner(public.read_text() if public.exists() else "", path.read_text())
