"""The ADB wire protocol as the device side sees it: packet framing and the sync sub-protocol.

Framing (adb/protocol.txt in AOSP, and adb-shell's ``adb_message.py``): every packet is a 24-byte
little-endian header followed by ``data_length`` bytes of payload::

    command, arg0, arg1, data_length, data_crc32, magic      (six uint32, little-endian)

``magic`` is ``command ^ 0xffffffff``. ``data_crc32`` is not a CRC: it is the sum of the payload
bytes. Peers that negotiated protocol version >= ``A_VERSION_SKIP_CHECKSUM`` (0x01000001, the
stock adb client since Android 9) may send 0 and ignore it; adb-shell 0.4.4 negotiates 0x01000000
and verifies it, so the device computes it whenever the negotiated version is below 0x01000001 —
the same rule adbd follows.

Sync (adb/SYNC.TXT): inside a ``sync:`` stream, requests are ``id(4 bytes) + uint32 length`` then
``length`` bytes; replies have fixed layouts (see the ``pack_*`` helpers). The stream's WRTE packet
boundaries mean nothing to sync: a request may span packets and a packet may hold several.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

HEADER = struct.Struct("<6I")
HEADER_SIZE = HEADER.size  # 24

#: Protocol versions (adb.h). The device answers with A_VERSION; the pair uses the smaller one.
A_VERSION_MIN = 0x01000000
A_VERSION_SKIP_CHECKSUM = 0x01000001
A_VERSION = 0x01000001

#: Payload ceilings: legacy (4K), what adbd sends since Android 9 (1 MiB).
MAX_PAYLOAD_V1 = 4 * 1024
MAX_PAYLOAD = 1024 * 1024

#: AUTH arg0 values.
AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3

#: Sync DATA chunks never exceed this (SYNC_DATA_MAX).
SYNC_DATA_MAX = 64 * 1024
#: adbd refuses sync paths longer than this.
SYNC_PATH_MAX = 1024


def _wire(name: bytes) -> int:
    return struct.unpack("<I", name)[0]


CNXN = _wire(b"CNXN")
AUTH = _wire(b"AUTH")
OPEN = _wire(b"OPEN")
OKAY = _wire(b"OKAY")
CLSE = _wire(b"CLSE")
WRTE = _wire(b"WRTE")
SYNC = _wire(b"SYNC")
STLS = _wire(b"STLS")

COMMAND_NAMES = {CNXN: "CNXN", AUTH: "AUTH", OPEN: "OPEN", OKAY: "OKAY", CLSE: "CLSE",
                 WRTE: "WRTE", SYNC: "SYNC", STLS: "STLS"}

# Sync ids.
ID_STAT = b"STAT"
ID_STA2 = b"STA2"
ID_LST2 = b"LST2"
ID_LIST = b"LIST"
ID_LIS2 = b"LIS2"
ID_SEND = b"SEND"
ID_RECV = b"RECV"
ID_DENT = b"DENT"
ID_DONE = b"DONE"
ID_DATA = b"DATA"
ID_OKAY = b"OKAY"
ID_FAIL = b"FAIL"
ID_QUIT = b"QUIT"


def checksum(data: bytes) -> int:
    """Return the ADB 'crc32' of ``data``: the byte sum modulo 2**32.

    Summed by numpy: adbd sums in C, where it costs nothing next to the transfer; a Python
    ``sum()`` here cost ~20 ms per 1 MiB packet and made the loopback phone itself the bottleneck
    for clients on protocol 0x01000000 (adb-shell), which must checksum, unlike the stock client.
    """
    return int(np.frombuffer(data, dtype=np.uint8).sum(dtype=np.uint64)) & 0xFFFFFFFF


@dataclass(frozen=True)
class Packet:
    """One ADB packet as received: command word, both arguments and the payload."""

    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        """The four-letter command name, or its hex value when it is not a known command."""
        return COMMAND_NAMES.get(self.command, f"0x{self.command:08x}")


class ProtocolError(Exception):
    """The peer sent bytes that are not a well-formed ADB packet."""


def pack(command: int, arg0: int, arg1: int, data: bytes = b"", *, with_checksum: bool = True) -> bytes:
    """Return one packet (header + payload) ready to write to the socket."""
    crc = checksum(data) if with_checksum else 0
    header = HEADER.pack(command, arg0 & 0xFFFFFFFF, arg1 & 0xFFFFFFFF, len(data), crc,
                         command ^ 0xFFFFFFFF)
    return header + data


def parse_header(header: bytes) -> tuple[int, int, int, int, int]:
    """Return ``(command, arg0, arg1, data_length, data_crc32)`` from a 24-byte header.

    Raises ProtocolError when the magic word does not match the command.
    """
    command, arg0, arg1, length, crc, magic = HEADER.unpack(header)
    if magic != command ^ 0xFFFFFFFF:
        raise ProtocolError(f"bad magic 0x{magic:08x} for command 0x{command:08x}")
    return command, arg0, arg1, length, crc


# --- sync replies ---------------------------------------------------------------------------------


def pack_sync_status(sync_id: bytes, message: bytes = b"") -> bytes:
    """OKAY / FAIL / DONE-style reply: id, uint32 length, message."""
    return sync_id + struct.pack("<I", len(message)) + message


def pack_sync_stat_v1(mode: int, size: int, mtime: int) -> bytes:
    """STAT v1 reply: id, mode, size, mtime (all uint32; zeros mean 'does not exist')."""
    return ID_STAT + struct.pack("<3I", mode & 0xFFFFFFFF, size & 0xFFFFFFFF, mtime & 0xFFFFFFFF)


def pack_sync_dent_v1(mode: int, size: int, mtime: int, name: bytes) -> bytes:
    """LIST v1 entry: id DENT, mode, size, mtime, namelen, name."""
    return ID_DENT + struct.pack("<4I", mode & 0xFFFFFFFF, size & 0xFFFFFFFF,
                                 mtime & 0xFFFFFFFF, len(name)) + name


def pack_sync_list_done() -> bytes:
    """The DONE that ends a LIST: the same 20-byte layout as a DENT, all zeros."""
    return ID_DONE + struct.pack("<4I", 0, 0, 0, 0)


def pack_sync_data(chunk: bytes) -> bytes:
    """One RECV data chunk (<= SYNC_DATA_MAX bytes)."""
    return ID_DATA + struct.pack("<I", len(chunk)) + chunk
