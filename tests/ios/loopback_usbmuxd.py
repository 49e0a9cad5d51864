"""A usbmuxd on 127.0.0.1 speaking the real plist protocol, with an unpaired lockdownd behind each phone.

Enough of both protocols for the paths a phone takes before it trusts this machine: usbmuxd's
ReadBUID, ListDevices, ReadPairRecord (none) and Connect; then, on the connected socket,
lockdownd's QueryType, GetValue (the values readable before pairing) and Pair, answered as a phone
does when its Trust prompt is up (PairingDialogResponsePending), when it is locked
(PasswordProtected) or when the user tapped Don't Trust (UserDeniedPairing). The real
pymobiledevice3 client talks to it through ``BENCHLAB_USBMUXD=127.0.0.1:PORT``; TLS sessions
(everything after pairing) are out of its scope.
"""

from __future__ import annotations

import plistlib
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

LOCKDOWN_PORT = 62078
PLIST_VERSION = 1
PLIST_MESSAGE = 8


@dataclass
class LoopbackPhone:
    """One phone: its usbmux record and the lockdown values it shows before pairing."""

    serial: str
    device_id: int
    connection_type: str = "USB"
    values: dict[str, Any] = field(default_factory=dict)
    #: The lockdownd error for a Pair request: PairingDialogResponsePending, PasswordProtected, UserDeniedPairing.
    pair_error: str = "PairingDialogResponsePending"
    public_key_pem: bytes = b""


def rsa_public_key_pem() -> bytes:
    """A device public key as lockdownd gives it (PEM "RSA PUBLIC KEY")."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)


class _Handler(socketserver.BaseRequestHandler):
    server: LoopbackUsbmuxd

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                raise ConnectionError("client closed")
            data += chunk
        return data

    def _mux_reply(self, tag: int, message: dict[str, Any]) -> None:
        payload = plistlib.dumps(message)
        self.request.sendall(struct.pack("<IIII", 16 + len(payload), PLIST_VERSION, PLIST_MESSAGE, tag) + payload)

    def handle(self) -> None:
        try:
            while True:
                length, _version, _message, tag = struct.unpack("<IIII", self._read(16))
                request = plistlib.loads(self._read(length - 16))
                phone = self._mux(request, tag)
                if phone is not None:
                    self._lockdown(phone)
                    return
        except ConnectionError:
            return

    def _mux(self, request: dict[str, Any], tag: int) -> LoopbackPhone | None:
        kind = request.get("MessageType")
        phones = self.server.phones
        if kind == "ReadBUID":
            self._mux_reply(tag, {"BUID": "B7A7E5D4-0000-4000-8000-BENCHLAB0001"})
        elif kind == "ListDevices":
            self._mux_reply(tag, {"DeviceList": [
                {"MessageType": "Attached", "DeviceID": p.device_id,
                 "Properties": {"SerialNumber": p.serial, "ConnectionType": p.connection_type,
                                "DeviceID": p.device_id}} for p in phones]})
        elif kind == "ReadPairRecord":
            self._mux_reply(tag, {"MessageType": "Result", "Number": 2})  # no record: not paired
        elif kind == "Connect":
            port = socket.ntohs(int(request["PortNumber"]))
            phone = next((p for p in phones if p.device_id == request["DeviceID"]), None)
            ok = phone is not None and port == LOCKDOWN_PORT
            self._mux_reply(tag, {"MessageType": "Result", "Number": 0 if ok else 3})
            return phone if ok else None
        else:
            self._mux_reply(tag, {"MessageType": "Result", "Number": 1})
        return None

    def _lockdown(self, phone: LoopbackPhone) -> None:
        while True:
            (length,) = struct.unpack(">I", self._read(4))
            request = plistlib.loads(self._read(length))
            self.server.lockdown_requests.append(request.get("Request", "?"))
            reply = self._answer(phone, request)
            data = plistlib.dumps(reply)
            self.request.sendall(struct.pack(">I", len(data)) + data)

    @staticmethod
    def _answer(phone: LoopbackPhone, request: dict[str, Any]) -> dict[str, Any]:
        kind = request.get("Request")
        if kind == "QueryType":
            return {"Request": kind, "Type": "com.apple.mobile.lockdown"}
        if kind == "GetValue":
            key = request.get("Key")
            if key is None and not request.get("Domain"):
                return {"Request": kind, "Value": phone.values}
            if key == "DevicePublicKey":
                return {"Request": kind, "Key": key, "Value": phone.public_key_pem}
            if key in phone.values:
                return {"Request": kind, "Key": key, "Value": phone.values[key]}
            return {"Request": kind, "Error": "MissingValue"}
        if kind == "StartSession":
            return {"Request": kind, "Error": "InvalidHostID"}
        if kind == "Pair":
            return {"Request": kind, "Error": phone.pair_error}
        return {"Request": kind, "Error": "InvalidService"}


class LoopbackUsbmuxd(socketserver.ThreadingTCPServer):
    """``with LoopbackUsbmuxd(phones) as mux:`` serves on ``mux.address`` ("127.0.0.1:PORT")."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, phones: list[LoopbackPhone]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.phones = phones
        self.lockdown_requests: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, name="loopback-usbmuxd", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> LoopbackUsbmuxd:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
