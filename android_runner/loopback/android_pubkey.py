"""Android's RSA public key format, and checking an ADB AUTH signature against it.

An ADB client identifies itself with ``adbkey.pub``: base64 of a little-endian C struct, a space,
``user@host``, and (on the wire, in AUTH RSAPUBLICKEY) a trailing NUL. The struct
(system/core/libcrypto_utils/android_pubkey.cpp)::

    uint32_t modulus_size_words;   // 64 for RSA-2048
    uint32_t n0inv;                // -1 / n[0] mod 2^32 (Montgomery helper)
    uint8_t  modulus[256];         // n, little-endian
    uint8_t  rr[256];              // R^2 mod n, little-endian, R = 2^2048
    uint32_t exponent;             // 3 or 65537

The signature in AUTH SIGNATURE is RSA PKCS#1 v1.5 over the 20-byte token *as if it were already a
SHA-1 digest* (adbd calls ``RSA_verify(NID_sha1, token, 20, sig, ...)``): the DigestInfo for SHA-1
is wrapped around the raw token, no hashing happens. ``cryptography`` says exactly that with
``Prehashed(SHA1())``.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

MODULUS_SIZE = 2048 // 8
MODULUS_SIZE_WORDS = MODULUS_SIZE // 4
_STRUCT = struct.Struct(f"<II{MODULUS_SIZE}s{MODULUS_SIZE}sI")
TOKEN_SIZE = 20


class PublicKeyError(ValueError):
    """The text is not an Android-format RSA public key."""


@dataclass(frozen=True)
class AndroidPublicKey:
    """A decoded ``adbkey.pub``: the RSA numbers, the comment (``user@host``) and the base64 text."""

    n: int
    e: int
    comment: str
    encoded: str

    def verify(self, token: bytes, signature: bytes) -> bool:
        """Return True when ``signature`` is this key's ADB signature over ``token`` (20 bytes)."""
        if len(token) != TOKEN_SIZE:
            return False
        public_key = rsa.RSAPublicNumbers(self.e, self.n).public_key()
        try:
            public_key.verify(signature, token, padding.PKCS1v15(), Prehashed(hashes.SHA1()))
        except (InvalidSignature, ValueError):
            return False
        return True


def decode(text: str | bytes) -> AndroidPublicKey:
    """Return the key in ``text`` (``adbkey.pub`` contents or an AUTH RSAPUBLICKEY payload).

    Accepts a trailing NUL and surrounding whitespace; the comment after the first space is
    optional. Raises PublicKeyError when the base64 or the struct is malformed, when the modulus is
    not 2048 bits, or when the stored Montgomery values do not belong to the modulus (a corrupted
    or hand-edited key).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.replace("\0", "").strip()
    if not text:
        raise PublicKeyError("empty public key")
    encoded, _, comment = text.partition(" ")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PublicKeyError(f"public key is not base64: {exc}") from exc
    if len(raw) != _STRUCT.size:
        raise PublicKeyError(f"public key struct is {len(raw)} bytes, expected {_STRUCT.size}")
    size_words, n0inv, modulus_le, rr_le, exponent = _STRUCT.unpack(raw)
    if size_words != MODULUS_SIZE_WORDS:
        raise PublicKeyError(f"modulus is {size_words} words, expected {MODULUS_SIZE_WORDS}")
    n = int.from_bytes(modulus_le, "little")
    if n.bit_length() != MODULUS_SIZE * 8 or n % 2 == 0:
        raise PublicKeyError("modulus is not an odd 2048-bit number")
    if exponent not in (3, 65537):
        raise PublicKeyError(f"exponent {exponent} is neither 3 nor 65537")
    if (n0inv * n) % (1 << 32) != (1 << 32) - 1:
        raise PublicKeyError("n0inv does not match the modulus")
    if int.from_bytes(rr_le, "little") != pow(2, 2 * MODULUS_SIZE * 8, n):
        raise PublicKeyError("rr does not match the modulus")
    return AndroidPublicKey(n=n, e=exponent, comment=comment.strip(), encoded=encoded)
