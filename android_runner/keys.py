"""The RSA key benchlab signs ADB connections with.

Phones remember which keys they trust, so benchlab reuses the Android SDK's `~/.android/adbkey`
when there is one: a phone that already trusts this lab machine accepts benchlab without a new
prompt. An SDK key that cannot be read as a 2048-bit RSA key (empty, cut, garbage, another
algorithm) is reported in one warning and benchlab's own key is used instead.

benchlab's own key is generated once in its config folder (mode 0700). The private key is
written into a file created 0600 (``O_CREAT | O_EXCL``), so it is never readable by others, not
even for the moment a chmod would take, and then hard-linked into place: a second benchlab
process generating at the same moment (two farm workers on a fresh machine) finds the first
one's complete key instead of a half-written file. A ``adbkey.pub`` left without its private key
is moved aside with a warning rather than overwritten.

The public key sent to a phone is always derived from the private key, so a stale or missing
``.pub`` next to it cannot make a phone trust a key benchlab cannot sign with.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from pathlib import Path

from adb_shell.auth.keygen import encode_pubkey, get_user_info, write_public_keyfile
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyasn1.error import PyAsn1Error

from benchlab.settings import ADB_KEY, CONFIG_DIR, XDG_CONFIG_HOME, read
from benchlab.errors import DeviceError

log = logging.getLogger(__name__)

SDK_KEY = Path.home() / ".android" / "adbkey"
#: Overrides the SDK key's path (tests, or a lab that keeps its key elsewhere).
#: Android's public-key struct (adb_shell's ANDROID_RSAPUBLICKEY_STRUCT) holds a 2048-bit modulus.
KEY_BITS = 2048

# One generation at a time within this process (discovery may connect phones from threads).
_generate_lock = threading.Lock()


class _UnusableKey(Exception):
    """A key file that cannot sign ADB tokens; the message says why."""


def config_dir() -> Path:
    """Return benchlab's config folder: $BENCHLAB_CONFIG_DIR, else $XDG_CONFIG_HOME/benchlab."""
    configured = read(CONFIG_DIR)
    if configured:
        return Path(configured)
    return Path(read(XDG_CONFIG_HOME) or Path.home() / ".config") / "benchlab"


def public_path(private: Path) -> Path:
    """Return the ``.pub`` file that goes with the private key ``private`` (``adbkey.pub``)."""
    return private.with_name(private.name + ".pub")


def _load(path: Path) -> PythonRSASigner:
    """Return a signer for the PKCS#8 PEM key at ``path``; raises _UnusableKey saying why not."""
    try:
        pem = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise _UnusableKey(f"unreadable: {exc}") from None
    if not pem.strip():
        raise _UnusableKey("empty file")
    try:
        key_signer = PythonRSASigner("", pem)
    except (ValueError, PyAsn1Error) as exc:  # ValueError also covers bad base64 (binascii.Error)
        raise _UnusableKey(str(exc).strip() or f"not a PKCS#8 RSA key ({type(exc).__name__})") from None
    bits = key_signer.priv_key.n.bit_length()
    if bits != KEY_BITS:
        raise _UnusableKey(f"{bits}-bit RSA key, ADB needs {KEY_BITS} bits")
    key_signer.pub_key = base64.b64encode(encode_pubkey(str(path))).decode("ascii") + get_user_info()
    return key_signer


def _set_orphan_aside(public: Path) -> None:
    """Move a ``.pub`` whose private key is gone out of the way, keeping it and saying where."""
    kept = public.with_name(f"{public.name}.orphaned-{time.strftime('%Y%m%d-%H%M%S')}")
    public.rename(kept)
    log.warning("%s had no private key next to it: kept it as %s and generated a new key pair",
                public, kept)


def _generate(own: Path) -> None:
    """Write a new key pair at ``own`` (and ``own.pub``) unless another process just did.

    Raises DeviceError when the folder or files cannot be written.
    """
    try:
        own.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        public = public_path(own)
        if public.exists() and not own.exists():
            _set_orphan_aside(public)
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        partial = own.with_name(f".{own.name}.{os.getpid()}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(partial, own)  # atomic, and never replaces a key another process linked first
            except FileExistsError:
                return  # that process's key is complete; use it
        finally:
            partial.unlink(missing_ok=True)
        write_public_keyfile(str(own), str(public))
    except OSError as exc:
        raise DeviceError(f"cannot create benchlab's ADB key in {own.parent}: {exc.strerror or exc}",
                          hint=f"set {CONFIG_DIR.name} to a writable folder") from None


def _select() -> tuple[Path, PythonRSASigner]:
    """Return the key to use and its signer (see the module docstring for the order)."""
    sdk_key = Path(read(ADB_KEY) or SDK_KEY)
    if sdk_key.is_file():
        try:
            return sdk_key, _load(sdk_key)
        except _UnusableKey as exc:
            log.warning("%s is not a usable ADB key (%s): using benchlab's own key instead; phones "
                        "that trust only that key will ask to trust this machine again", sdk_key, exc)
    own = config_dir() / "adbkey"
    with _generate_lock:
        if not own.is_file():
            _generate(own)
    try:
        return own, _load(own)
    except _UnusableKey as exc:
        raise DeviceError(f"benchlab's ADB key {own} is not usable ({exc})",
                          hint=f"delete {own} and {public_path(own)}: benchlab then makes a new pair") from None


def key_path() -> Path:
    """Return the private key benchlab signs with: the SDK's when usable, else its own.

    Generates benchlab's own key pair on first use. Raises DeviceError when its own key cannot be
    written or is not a usable key.
    """
    return _select()[0]


def signer() -> PythonRSASigner:
    """Return a signer for the key from `key_path()`, its public key derived from the private key.

    Raises DeviceError as `key_path()` does.
    """
    return _select()[1]
