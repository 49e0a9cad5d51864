"""A loopback Android device: the device side of ADB (what adbd does on a phone) on 127.0.0.1.

Start one in a test and point any ADB client at it — adb-shell's ``AdbDeviceTcp``, or the stock
``adb`` client via ``adb connect 127.0.0.1:PORT``::

    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone") as phone:
        dev = AdbDeviceTcp("127.0.0.1", phone.port, default_transport_timeout_s=5)
        dev.connect(rsa_keys=[signer], auth_timeout_s=2)
        dev.shell("getprop ro.product.model")        # -> "SM-S921U\\n"

What it implements (and nothing more, so the banner advertises no optional features):

- CNXN, with banner ``device::ro.product.name=..;ro.product.model=..;ro.product.device=..;
  features=``. An empty feature list makes the stock client use shell protocol v1 and sync v1.
- AUTH: always required (a ``ro.adb.secure=1`` phone). The device sends a 20-byte TOKEN, accepts
  a SIGNATURE from a known key, answers a bad one with a fresh TOKEN, and on RSAPUBLICKEY either
  adds the key and connects (``accept_new_keys``) or stays silent, like a phone whose "Allow USB
  debugging?" dialog nobody answers (``adb devices`` then says ``unauthorized``).
- Streams: OPEN → OKAY or CLSE(0, id) for an unknown service; WRTE is acknowledged with OKAY;
  the device sends its next WRTE on a stream only after the client's OKAY for the previous one.
- Services: ``shell:CMD`` and ``exec:CMD`` (raw v1: output, then CLSE; no exit status — append
  ``; echo $?`` as a harness does), ``shell:`` (commands from the client's WRTEs), ``sync:``
  (STAT, LIST, SEND, RECV, QUIT; STA2/LST2/LIS2 get FAIL "unknown command" because stat_v2/ls_v2
  are not advertised), ``root:`` (refused, as on a user build). See ``services.py``.

Faults are switched through a mutable :class:`Faults` instance, also while the device runs.

An idle phone costs no CPU: its listener and each connection's reader block until a client sends
something, and stopping wakes them by shutting their sockets' reading side (a stream's waits still
tick every 0.2 s while it is open). The device also stops itself after ``lifetime_s`` (10 minutes
by default) so a forgotten device cannot outlive a test run. Shell commands run in their own process groups and are killed when their stream, their
connection or the device goes away.
"""

from __future__ import annotations

import itertools
import os
import queue
import secrets
import select
import shutil
import socket
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from . import android_pubkey, protocol, services
from .personalities import Personality

_TICK_S = 0.2


@dataclass
class Faults:
    """Fault switches. Change any field at any time; each is read at the moment it matters.

    - ``unauthorized``: treat every key as unknown, even accepted ones, and ignore RSAPUBLICKEY
      (the user revoked USB debugging authorisations and nobody answers the dialog).
    - ``drop_after_push_bytes``: reset the TCP connection once a SEND has received this many data
      bytes (the cable is pulled mid-push). The half-written file stays, as on a phone.
    - ``drop_during_shell``: reset the connection while a shell command whose text contains this
      substring runs (after its first output, or 0.3 s after it started). ``""`` matches any.
    - ``hang_shell``: a shell command containing this substring is accepted (OKAY) and then
      never answered: no output, no CLSE. ``""`` matches any.
    - ``disk_full_after_bytes``: a SEND whose file grows past this many bytes fails as adbd's
      does: FAIL "write failed: No space left on device" at once, while the client is still
      sending; then DATA is drained until DONE and the partial file removed. ``df`` reports this
      many bytes available on /data meanwhile. (adb-shell 0.4.4's own push loses a FAIL that
      arrives mid-transfer and times out; the stock client and benchlab's push report it.)
    - ``crash_benchmark``: the stand-in benchmark_model prints its first lines
      and die with SIGSEGV (the shell then prints "Segmentation fault", exit status 139).
    - ``hang_benchmark``: a stand-in benchmark_model whose arguments contain this substring
      loads the model and then never finishes (a wedged GPU driver): a real process on the
      "phone" that only a kill ends. ``""`` matches any.
    - ``reboot_during_shell``: the first shell command containing this substring reboots the
      phone (see :meth:`LoopbackAdbDevice.reboot`) for ``reboot_down_s`` seconds; the switch then
      clears itself, as a phone does not reboot on every command.
    """

    unauthorized: bool = False
    drop_after_push_bytes: int | None = None
    drop_during_shell: str | None = None
    hang_shell: str | None = None
    disk_full_after_bytes: int | None = None
    crash_benchmark: bool = False
    hang_benchmark: str | None = None
    reboot_during_shell: str | None = None
    reboot_down_s: float = 2.0


class ConnectionAborted(Exception):
    """The connection went away (closed by the peer, reset by a fault, or the device stopped)."""


class Stream:
    """One ADB stream between the device (``local_id``) and the client (``remote_id``).

    The owning service reads the client's bytes with :meth:`read` and answers with :meth:`write`,
    which splits data into WRTE packets no larger than the negotiated payload and waits for the
    client's OKAY before each next packet.
    """

    def __init__(self, connection: "Connection", local_id: int, remote_id: int, service: str):
        self.connection = connection
        self.local_id = local_id
        self.remote_id = remote_id
        self.service = service
        self._inbox: "queue.Queue[bytes | None]" = queue.Queue()
        self._pending = b""
        self._may_send = threading.Event()
        self._may_send.set()
        self._closed = threading.Event()  # no more traffic either way
        self._sent_clse = False
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        """True once either side closed the stream or the connection ended."""
        return self._closed.is_set()

    # --- called by the connection's reader thread ----------------------------------------------

    def on_write(self, data: bytes) -> None:
        self._inbox.put(data)

    def on_okay(self) -> None:
        self._may_send.set()

    def on_close(self) -> None:
        """The client closed the stream, or the connection ended: stop readers and writers."""
        self._closed.set()
        self._inbox.put(None)
        self._may_send.set()

    # --- used by services ----------------------------------------------------------------------

    def read(self, timeout_s: float | None = None) -> bytes | None:
        """Return the next bytes the client wrote, b"" on timeout, or None once the stream closed."""
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        try:
            item = self._inbox.get(timeout=timeout_s)
        except queue.Empty:
            return b""
        if item is None:
            self._inbox.put(None)  # keep signalling closure to later readers
        return item

    def read_exact(self, size: int) -> bytes | None:
        """Return exactly ``size`` bytes from the client, or None if the stream closes first."""
        buf = bytearray()
        while len(buf) < size:
            chunk = self.read(timeout_s=_TICK_S)
            if chunk is None:
                return None
            if not chunk:
                if self.connection.dead:
                    return None
                continue
            buf += chunk
        if len(buf) > size:
            self._pending = bytes(buf[size:]) + self._pending
        return bytes(buf[:size])

    def write(self, data: bytes) -> bool:
        """Send ``data`` to the client as WRTE packets; return False if the stream closed first."""
        max_payload = self.connection.max_payload
        for start in range(0, len(data), max_payload):
            chunk = data[start : start + max_payload]
            while not self._may_send.wait(_TICK_S):
                if self.connection.dead:
                    return False
            if self.closed:
                return False
            self._may_send.clear()
            try:
                self.connection.send(protocol.WRTE, self.local_id, self.remote_id, chunk)
            except ConnectionAborted:
                return False
        return True

    def close(self) -> None:
        """Send CLSE (once) and forget the stream."""
        with self._lock:
            already = self._sent_clse
            self._sent_clse = True
        if not already and not self.connection.dead:
            try:
                self.connection.send(protocol.CLSE, self.local_id, self.remote_id)
            except ConnectionAborted:
                pass
        self._closed.set()
        self._inbox.put(None)
        self._may_send.set()
        self.connection.forget(self)

    def wait_closed(self, timeout_s: float) -> bool:
        """Block until the stream closes or ``timeout_s`` passes; return whether it closed."""
        return self._closed.wait(timeout_s)

    def client_closed_reply(self) -> None:
        """Answer the client's CLSE with ours unless we already sent one."""
        with self._lock:
            already = self._sent_clse
            self._sent_clse = True
        if not already:
            try:
                self.connection.send(protocol.CLSE, self.local_id, self.remote_id)
            except ConnectionAborted:
                pass


class Connection:
    """One client's TCP connection: handshake, authentication, and packet dispatch to streams."""

    def __init__(self, device: "LoopbackAdbDevice", sock: socket.socket, peer: str):
        self.device = device
        self.sock = sock
        self.peer = peer
        self.dead = False
        self.protocol_version = protocol.A_VERSION_MIN
        self.peer_max_payload = protocol.MAX_PAYLOAD_V1
        self.client_banner = ""
        self.authenticated = False
        self._token: bytes | None = None
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._streams_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.thread = threading.Thread(target=self._run, name=f"loopback-adb-conn-{peer}", daemon=True)

    @property
    def max_payload(self) -> int:
        """The largest WRTE payload both sides accept."""
        return max(1, min(self.peer_max_payload, self.device.max_payload))

    # --- sending -------------------------------------------------------------------------------

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        """Write one packet; raises ConnectionAborted when the connection is gone."""
        packet = protocol.pack(
            command, arg0, arg1, data,
            with_checksum=self.protocol_version < protocol.A_VERSION_SKIP_CHECKSUM,
        )
        with self._send_lock:
            if self.dead:
                raise ConnectionAborted("connection closed")
            try:
                self.sock.sendall(packet)
            except OSError as exc:
                self._mark_dead()
                raise ConnectionAborted(str(exc)) from exc

    def abort(self) -> None:
        """Reset the TCP connection (RST, not FIN), as when a cable is pulled mid-transfer."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        """Close the socket and end every stream (their services clean up after themselves)."""
        self._mark_dead()
        try:
            self.sock.shutdown(socket.SHUT_RD)  # wakes the reader; sends the peer nothing (abort's RST stays)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def _mark_dead(self) -> None:
        if self.dead:
            return
        self.dead = True
        with self._streams_lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for stream in streams:
            stream.on_close()

    def forget(self, stream: Stream) -> None:
        with self._streams_lock:
            self._streams.pop(stream.local_id, None)

    # --- reading -------------------------------------------------------------------------------

    def _recv_exact(self, size: int) -> bytes:
        buf = bytearray()
        while len(buf) < size:
            if self.dead or self.device.stopping:
                raise ConnectionAborted("stopping")
            try:  # no timeout: close() wakes this (the socket's sendall keeps its own)
                select.select([self.sock], [], [])
            except (OSError, ValueError) as exc:
                raise ConnectionAborted(str(exc)) from exc
            try:
                chunk = self.sock.recv(size - len(buf))
            except OSError as exc:
                raise ConnectionAborted(str(exc)) from exc
            if not chunk:
                raise ConnectionAborted("peer closed the connection")
            buf += chunk
        return bytes(buf)

    def _read_packet(self) -> protocol.Packet:
        header = self._recv_exact(protocol.HEADER_SIZE)
        command, arg0, arg1, length, crc = protocol.parse_header(header)
        if length > protocol.MAX_PAYLOAD:
            raise protocol.ProtocolError(f"payload of {length} bytes exceeds {protocol.MAX_PAYLOAD}")
        data = self._recv_exact(length) if length else b""
        # Peers on >= A_VERSION_SKIP_CHECKSUM may send 0; anything else must add up.
        if crc and self.protocol_version < protocol.A_VERSION_SKIP_CHECKSUM:
            if protocol.checksum(data) != crc:
                raise protocol.ProtocolError("payload checksum mismatch")
        return protocol.Packet(command, arg0, arg1, data)

    def _run(self) -> None:
        try:
            while True:
                self._dispatch(self._read_packet())
        except (ConnectionAborted, protocol.ProtocolError):
            pass
        finally:
            self.close()
            self.device._connection_ended(self)

    def _dispatch(self, packet: protocol.Packet) -> None:
        command = packet.command
        if command == protocol.CNXN:
            self._on_cnxn(packet)
        elif command == protocol.AUTH:
            self._on_auth(packet)
        elif not self.authenticated:
            return  # adbd ignores everything but CNXN/AUTH before authentication
        elif command == protocol.OPEN:
            self._on_open(packet)
        elif command in (protocol.WRTE, protocol.OKAY, protocol.CLSE):
            self._on_stream_packet(packet)
        # SYNC, STLS and unknown commands are ignored, as adbd does for a plain TCP transport.

    # --- handshake and auth ----------------------------------------------------------------------

    def _on_cnxn(self, packet: protocol.Packet) -> None:
        self.protocol_version = min(packet.arg0, protocol.A_VERSION)
        self.peer_max_payload = packet.arg1
        self.client_banner = packet.data.rstrip(b"\0").decode("utf-8", errors="replace")
        self.authenticated = False
        self._send_token()

    def _send_token(self) -> None:
        self._token = secrets.token_bytes(android_pubkey.TOKEN_SIZE)
        self.send(protocol.AUTH, protocol.AUTH_TOKEN, 0, self._token)

    def _on_auth(self, packet: protocol.Packet) -> None:
        if self.authenticated or self._token is None:
            return
        if packet.arg0 == protocol.AUTH_SIGNATURE:
            if self.device._signature_is_known(self._token, packet.data):
                self._go_online()
            else:
                self._send_token()
        elif packet.arg0 == protocol.AUTH_RSAPUBLICKEY:
            if self.device._offer_new_key(packet.data):
                self._go_online()
            # else: stay silent, as a phone waiting for the user's answer

    def _go_online(self) -> None:
        self.authenticated = True
        self._token = None
        self.send(protocol.CNXN, protocol.A_VERSION, self.device.max_payload,
                  self.device.banner().encode())

    # --- streams ---------------------------------------------------------------------------------

    def _on_open(self, packet: protocol.Packet) -> None:
        remote_id = packet.arg0
        destination = packet.data.rstrip(b"\0").decode("utf-8", errors="replace")
        service = self.device._service_for(destination)
        if remote_id == 0 or service is None:
            self.send(protocol.CLSE, 0, remote_id)
            return
        stream = Stream(self, next(self._ids), remote_id, destination)
        with self._streams_lock:
            self._streams[stream.local_id] = stream
        self.send(protocol.OKAY, stream.local_id, remote_id)
        threading.Thread(target=self._serve, args=(service, stream),
                         name=f"loopback-adb-{destination[:24]}", daemon=True).start()

    def _serve(self, service: Callable[[Stream], None], stream: Stream) -> None:
        try:
            service(stream)
        except ConnectionAborted:
            pass
        finally:
            stream.close()

    def _on_stream_packet(self, packet: protocol.Packet) -> None:
        # Client packets name the device's stream in arg1 (their arg0 is the client's id).
        with self._streams_lock:
            stream = self._streams.get(packet.arg1)
        if stream is None or stream.remote_id != packet.arg0:
            return
        if packet.command == protocol.WRTE:
            stream.on_write(packet.data)
            self.send(protocol.OKAY, stream.local_id, stream.remote_id)
        elif packet.command == protocol.OKAY:
            stream.on_okay()
        else:  # CLSE
            stream.client_closed_reply()
            self.forget(stream)
            stream.on_close()


class LoopbackAdbDevice:
    """A phone on 127.0.0.1 that speaks ADB; see the module docstring for what it implements.

    ``root_dir`` is the device's ``/``: /data, /sdcard (a symlink to /storage/emulated/0),
    /storage, /system, /vendor, /sys/devices/system/cpu and /proc/{cpuinfo,meminfo} live there
    (the last ones filled from the personality). ``accept_keys`` are Android-format public keys
    (``adbkey.pub`` text or a path to such a file) the device already trusts; with
    ``accept_new_keys`` it also trusts any key a client offers (the user taps "Allow").

    ``commands`` lists every shell/exec command line the device received, in order (to check
    what a harness ran, e.g. its taskset mask). ``faults`` may be changed at any time.

    Raises ValueError when ``root_dir`` contains whitespace or shell metacharacters (device paths
    are rewritten to it inside shell command lines).
    """

    def __init__(
        self,
        personality: Personality,
        root_dir: str | os.PathLike[str],
        faults: Faults | None = None,
        accept_keys: Iterable[str | bytes | os.PathLike[str]] = (),
        accept_new_keys: bool = True,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lifetime_s: float = 600.0,
        max_payload: int = protocol.MAX_PAYLOAD,
    ):
        self.personality = personality
        self.root_dir = Path(root_dir).resolve()
        if any(ch in str(self.root_dir) for ch in " \t\n'\"$`\\;&|<>()*?[]!{}~#"):
            raise ValueError(
                f"root_dir must be a plain path without shell metacharacters: {self.root_dir}")
        self.faults = faults if faults is not None else Faults()
        self.accept_new_keys = accept_new_keys
        self.host = host
        self.max_payload = max_payload
        self.lifetime_s = lifetime_s
        self._requested_port = port
        self._keys: list[android_pubkey.AndroidPublicKey] = []
        self._keys_lock = threading.Lock()
        for key in accept_keys:
            self.trust_key(key)
        self.commands: list[str] = []  # every shell/exec command line received, in order
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._connections: set[Connection] = set()
        self._conn_lock = threading.Lock()
        self._processes: set = set()
        self._proc_lock = threading.Lock()
        self._stopping = threading.Event()
        self._down_until = 0.0  # monotonic time until which a reboot refuses connections
        self._support_dir: Path | None = None
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """True once stop() began (or the lifetime ran out)."""
        return self._stopping.is_set()

    @property
    def serial(self) -> str:
        """The serial an ADB client uses for this device: ``127.0.0.1:PORT``."""
        return f"{self.host}:{self.port}"

    def start(self) -> int:
        """Lay out the device root, start listening and return the TCP port.

        Raises RuntimeError when called twice.
        """
        if self._listener is not None:
            raise RuntimeError("device already started")
        self._support_dir = Path(tempfile.mkdtemp(prefix="loopback-adb-"))
        services.lay_out_device(self)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self._requested_port))
        listener.listen(8)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop,
                                               name=f"loopback-adb-{self.port}", daemon=True)
        self._accept_thread.start()
        return self.port

    def stop(self) -> None:
        """Close every connection, kill running shell commands, and stop listening. Idempotent."""
        self._stopping.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept loop (Linux)
            except OSError:
                pass
            try:
                self._listener.close()
            except OSError:
                pass
        with self._conn_lock:  # the accept loop adds under this lock only while not stopping
            connections = list(self._connections)
        for connection in connections:
            connection.close()
        self.kill_processes()
        if self._accept_thread is not None and self._accept_thread is not threading.current_thread():
            self._accept_thread.join(timeout=2)
        for connection in connections:
            connection.thread.join(timeout=2)
        if self._support_dir is not None:
            shutil.rmtree(self._support_dir, ignore_errors=True)

    def __enter__(self) -> "LoopbackAdbDevice":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        deadline = time.monotonic() + self.lifetime_s
        assert self._listener is not None
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                threading.Thread(target=self.stop, daemon=True).start()
                return
            try:
                self._listener.settimeout(left)  # stop() wakes it sooner; a closed listener raises here too
                sock, address = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if time.monotonic() < self._down_until:
                # Rebooting: nothing listens yet. Reset at once, as a refused connect does.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                continue
            sock.setblocking(True)
            sock.settimeout(30.0)  # bounds sendall() to a client that stopped reading
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = Connection(self, sock, f"{address[0]}:{address[1]}")
            with self._conn_lock:
                if self._stopping.is_set():  # stop() took its list of connections already
                    sock.close()
                    return
                self._connections.add(connection)
            connection.thread.start()

    def _connection_ended(self, connection: Connection) -> None:
        with self._conn_lock:
            self._connections.discard(connection)

    @property
    def connections(self) -> int:
        """How many client connections are open right now."""
        with self._conn_lock:
            return len(self._connections)

    def drop_connections(self) -> None:
        """Reset every open connection now (the cable is pulled); the device keeps listening."""
        with self._conn_lock:
            connections = list(self._connections)
        for connection in connections:
            connection.abort()

    def reboot(self, down_s: float) -> None:
        """Reboot: kill every running command, reset every connection and refuse new ones for
        ``down_s`` seconds (adbd is not up yet), then answer again. Files under the root stay,
        as /data does across a reboot; keys the user accepted stay trusted."""
        self._down_until = time.monotonic() + down_s
        self.kill_processes()
        self.drop_connections()

    def finish_boot(self) -> None:
        """End a reboot now: connections are accepted again."""
        self._down_until = 0.0

    @property
    def rebooting(self) -> bool:
        """True while a reboot refuses connections."""
        return time.monotonic() < self._down_until

    # --- keys ----------------------------------------------------------------------------------

    def trust_key(self, key: str | bytes | os.PathLike[str]) -> android_pubkey.AndroidPublicKey:
        """Add an Android-format public key (text, bytes, or a path to adbkey.pub); return it.

        Raises android_pubkey.PublicKeyError when the key is malformed.
        """
        if isinstance(key, os.PathLike):
            key = Path(key).read_text(encoding="utf-8")
        decoded = android_pubkey.decode(key)
        with self._keys_lock:
            if all(existing.n != decoded.n for existing in self._keys):
                self._keys.append(decoded)
        return decoded

    @property
    def authorized_keys(self) -> tuple[android_pubkey.AndroidPublicKey, ...]:
        """The keys the device trusts now (configured ones plus those accepted since start)."""
        with self._keys_lock:
            return tuple(self._keys)

    def _signature_is_known(self, token: bytes, signature: bytes) -> bool:
        if self.faults.unauthorized:
            return False
        return any(key.verify(token, signature) for key in self.authorized_keys)

    def _offer_new_key(self, payload: bytes) -> bool:
        if self.faults.unauthorized or not self.accept_new_keys:
            return False
        try:
            self.trust_key(payload)
        except android_pubkey.PublicKeyError:
            return False
        return True

    # --- identity ------------------------------------------------------------------------------

    def banner(self) -> str:
        """The CNXN banner: ``device::`` + identifying properties + the (empty) feature list."""
        p = self.personality
        return (f"device::ro.product.name={p.product_name};ro.product.model={p.model};"
                f"ro.product.device={p.device};features=")

    # --- device state that tests may change while running ----------------------------------------

    @property
    def support_dir(self) -> Path:
        """Host folder with the device's helper scripts and state (outside the device root)."""
        if self._support_dir is None:
            raise RuntimeError("device not started")
        return self._support_dir

    def host_path(self, device_path: str) -> Path:
        """Return where the absolute ``device_path`` lives on this machine (inside root_dir)."""
        return services.device_to_host(self.root_dir, device_path)

    def set_thermal(self, text: str) -> None:
        """Replace what `dumpsys thermalservice` prints from now on."""
        (self.support_dir / "dumpsys" / "thermalservice").write_text(text, encoding="utf-8")

    def set_battery(self, text: str) -> None:
        """Replace what `dumpsys battery` prints from now on."""
        (self.support_dir / "dumpsys" / "battery").write_text(text, encoding="utf-8")

    def set_prop(self, key: str, value: str) -> None:
        """Set one property as `getprop` reports it from now on."""
        props = services.read_props(self.support_dir)
        props[key] = value
        services.write_props(self.support_dir, props)

    # --- services and processes ------------------------------------------------------------------

    def _service_for(self, destination: str) -> Callable[[Stream], None] | None:
        return services.resolve(self, destination)

    def register_process(self, process) -> None:
        with self._proc_lock:
            self._processes.add(process)

    def unregister_process(self, process) -> None:
        with self._proc_lock:
            self._processes.discard(process)

    def kill_processes(self) -> None:
        """Kill every shell command still running (their whole process groups)."""
        with self._proc_lock:
            processes = list(self._processes)
        for process in processes:
            services.kill_process_group(process)
