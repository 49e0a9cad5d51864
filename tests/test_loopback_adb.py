"""The loopback Android device speaks real ADB: adb-shell and the stock adb client both use it.

These tests pin the device's behaviour that other tests rely on: authentication, shell and sync,
the fault switches, the personalities, and the stand-in benchmark tools' output format.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.keygen import keygen
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from adb_shell.exceptions import AdbTimeoutError, PushFailedError, TcpTimeoutException

from android_runner.device import AndroidDevice
from android_runner.dumpsys import CONDITIONS_COMMAND
from android_runner.discovery import ListedPhone, discover, parse_devices_l, server_listing
from benchlab.execute.devices import UnavailableDevice

from android_runner.loopback.ports import free_port
from android_runner.loopback import (
    FLAGSHIP,
    LOW_END,
    Faults,
    LoopbackAdbDevice,
    PublicKeyError,
    decode_public_key,
)
from android_runner.loopback.personalities import THERMAL_THROTTLED
from android_runner.loopback import protocol, services
from android_runner.loopback.protocol import MAX_PAYLOAD

# Fault tests that wait for a client timeout use SHORT_TIMEOUT_S (the timeout is what they test).
# Everything else gets TRANSPORT_TIMEOUT_S, a safety net a busy shared machine never reaches: a
# quiet spell of a few seconds on the phone's thread is load, not a fault.
TRANSPORT_TIMEOUT_S = 30.0
SHORT_TIMEOUT_S = 1.0
# A test running a tool (the fake benchmark_model starts Python and LiteRT) may print nothing for
# longer than TRANSPORT_TIMEOUT_S on a busy shared machine: adb-shell raises on any quiet spell that
# long, so such tests allow what a slow phone would need.
TOOL_TIMEOUT_S = 120.0
TMP = "/data/local/tmp"


@pytest.fixture(scope="session")
def adb_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An adb-shell RSA key pair (private key path; the public key is next to it as .pub)."""
    path = tmp_path_factory.mktemp("adbkey") / "adbkey"
    keygen(str(path))
    return path


@pytest.fixture(scope="session")
def signer(adb_key: Path) -> PythonRSASigner:
    return PythonRSASigner.FromRSAKeyPath(str(adb_key))


@pytest.fixture
def phone(tmp_path: Path):
    """A started flagship loopback device that trusts any new key."""
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone") as device:
        yield device


def connect(device: LoopbackAdbDevice, signer: PythonRSASigner,
            transport_timeout_s: float = TRANSPORT_TIMEOUT_S) -> AdbDeviceTcp:
    client = AdbDeviceTcp("127.0.0.1", device.port, default_transport_timeout_s=transport_timeout_s)
    client.connect(rsa_keys=[signer], auth_timeout_s=TRANSPORT_TIMEOUT_S)
    return client


# --- keys and auth ---------------------------------------------------------------------------------


def test_public_key_decoder_reads_adb_shell_key_and_checks_its_signature(adb_key, signer):
    key = decode_public_key((adb_key.parent / "adbkey.pub").read_text())
    token = os.urandom(20)
    assert key.e == 65537 and key.n.bit_length() == 2048
    assert key.verify(token, signer.Sign(token))
    assert not key.verify(os.urandom(20), signer.Sign(token))


def test_public_key_decoder_rejects_a_corrupted_key(adb_key):
    text = (adb_key.parent / "adbkey.pub").read_text()
    corrupted = text[:100] + ("A" if text[100] != "A" else "B") + text[101:]
    with pytest.raises(PublicKeyError):
        decode_public_key(corrupted)
    with pytest.raises(PublicKeyError):
        decode_public_key("not base64 at all!")


def test_new_key_is_accepted_and_getprop_answers(phone, signer):
    client = connect(phone, signer)
    try:
        assert client.shell("getprop ro.product.model") == "SM-S921U\n"
        assert len(phone.authorized_keys) == 1
    finally:
        client.close()


def test_known_key_connects_when_new_keys_are_refused(tmp_path, adb_key, signer):
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_keys=[adb_key.parent / "adbkey.pub"],
                           accept_new_keys=False) as device:
        client = connect(device, signer)
        assert client.shell("echo ok") == "ok\n"
        client.close()


def test_unknown_key_is_refused_by_an_unauthorized_phone(tmp_path, signer):
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_new_keys=False) as device:
        client = AdbDeviceTcp("127.0.0.1", device.port, default_transport_timeout_s=SHORT_TIMEOUT_S)
        with pytest.raises((TcpTimeoutException, AdbTimeoutError)):
            client.connect(rsa_keys=[signer], auth_timeout_s=SHORT_TIMEOUT_S)
        client.close()
        assert device.authorized_keys == ()


def test_unauthorized_fault_refuses_even_a_known_key(tmp_path, adb_key, signer):
    faults = Faults(unauthorized=True)
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", faults=faults,
                           accept_keys=[adb_key.parent / "adbkey.pub"]) as device:
        client = AdbDeviceTcp("127.0.0.1", device.port, default_transport_timeout_s=SHORT_TIMEOUT_S)
        with pytest.raises((TcpTimeoutException, AdbTimeoutError)):
            client.connect(rsa_keys=[signer], auth_timeout_s=SHORT_TIMEOUT_S)
        client.close()
        faults.unauthorized = False  # the user re-authorises: the same key works again
        connect(device, signer).close()


def _read_packet(sock: socket.socket) -> tuple[bytes, int, int, int, bytes]:
    """Read one packet: (command, arg0, arg1, data_crc32, data)."""
    def exact(size: int) -> bytes:
        buf = b""
        while len(buf) < size:
            chunk = sock.recv(size - len(buf))
            assert chunk, "device closed the connection"
            buf += chunk
        return buf

    command, arg0, arg1, length, crc, magic = protocol.HEADER.unpack(exact(protocol.HEADER_SIZE))
    assert magic == command ^ 0xFFFFFFFF
    return struct.pack("<I", command), arg0, arg1, crc, exact(length) if length else b""


def test_wire_protocol_as_the_stock_client_speaks_it(phone, adb_key, signer):
    """A v0x01000001 client (no checksums), a rejected signature, the public key, then streams."""
    with socket.create_connection(("127.0.0.1", phone.port), timeout=TRANSPORT_TIMEOUT_S) as sock:
        send = lambda *args: sock.sendall(protocol.pack(*args, with_checksum=False))  # noqa: E731
        send(protocol.CNXN, protocol.A_VERSION, protocol.MAX_PAYLOAD, b"host::features=shell_v2,cmd")
        command, arg0, _, _, token = _read_packet(sock)
        assert (command, arg0, len(token)) == (b"AUTH", protocol.AUTH_TOKEN, 20)
        send(protocol.AUTH, protocol.AUTH_SIGNATURE, 0, b"\0" * 256)  # a bad signature
        command, arg0, _, _, token2 = _read_packet(sock)
        assert (command, arg0) == (b"AUTH", protocol.AUTH_TOKEN) and token2 != token
        pub = (adb_key.parent / "adbkey.pub").read_bytes()
        send(protocol.AUTH, protocol.AUTH_RSAPUBLICKEY, 0, pub + b"\0")
        command, version, max_payload, crc, banner = _read_packet(sock)
        assert (command, version, max_payload) == (b"CNXN", protocol.A_VERSION, protocol.MAX_PAYLOAD)
        assert crc == 0  # the pair negotiated 0x01000001: no checksums, as adbd does
        assert banner == (b"device::ro.product.name=e1qsqw;ro.product.model=SM-S921U;"
                          b"ro.product.device=e1q;features=")

        send(protocol.OPEN, 7, 0, b"shell,v2,raw:echo hi\0")  # shell_v2 is not advertised
        assert _read_packet(sock)[:3] == (b"CLSE", 0, 7)

        send(protocol.OPEN, 8, 0, b"sync:\0")
        command, device_id, client_id, _, _ = _read_packet(sock)
        assert (command, client_id) == (b"OKAY", 8)
        send(protocol.WRTE, 8, device_id, b"STA2" + struct.pack("<I", 4) + b"/data")
        assert _read_packet(sock)[:3] == (b"OKAY", device_id, 8)
        command, _, _, _, reply = _read_packet(sock)
        assert command == b"WRTE" and reply.startswith(b"FAIL") and b"unknown command" in reply
        send(protocol.OKAY, 8, device_id)
        assert _read_packet(sock)[:3] == (b"CLSE", device_id, 8)


# --- shell and sync ------------------------------------------------------------------------------


def test_push_pull_round_trip_is_byte_identical_and_stat_list_agree(phone, signer, tmp_path):
    payload = os.urandom(3 * 64 * 1024 + 123)  # several sync DATA chunks
    local = tmp_path / "model.bin"
    local.write_bytes(payload)
    client = connect(phone, signer)
    try:
        client.push(str(local), f"{TMP}/model.bin", st_mode=0o100755)
        back = tmp_path / "back.bin"
        client.pull(f"{TMP}/model.bin", str(back))
        assert back.read_bytes() == payload
        mode, size, mtime = client.stat(f"{TMP}/model.bin")
        assert (mode & 0o777, size) == (0o755, len(payload)) and mtime > 0
        assert client.stat(f"{TMP}/missing.bin") == (0, 0, 0)
        names = {bytes(entry.filename).decode() for entry in client.list(TMP)}
        assert names == {".", "..", "model.bin"}
        assert phone.host_path(f"{TMP}/model.bin").read_bytes() == payload
    finally:
        client.close()


def test_shell_maps_device_paths_and_runs_real_tools(phone, signer):
    client = connect(phone, signer)
    try:
        client.push(io.BytesIO(b"hello\n"), f"{TMP}/a.txt")
        out = client.shell(
            f"sha256sum {TMP}/a.txt; stat -c %s {TMP}/a.txt; mkdir -p /sdcard/bench/x && "
            f"chmod 600 {TMP}/a.txt && stat -c %a {TMP}/a.txt; ls -d /sdcard/bench/x; "
            f"rm {TMP}/a.txt; ls {TMP}; df {TMP} >/dev/null && echo df-ok")
        assert out.splitlines() == [
            f"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  {TMP}/a.txt",
            "6", "600", "/sdcard/bench/x", "df-ok"]
    finally:
        client.close()


def test_flagship_answers_props_cpufreq_cpuinfo_and_dumpsys(phone, signer):
    client = connect(phone, signer)
    try:
        freqs = client.shell("for c in 0 1 2 3 4 5 6 7; do "
                             "cat /sys/devices/system/cpu/cpu$c/cpufreq/cpuinfo_max_freq; done")
        assert [int(f) for f in freqs.split()] == list(FLAGSHIP.max_freqs_khz)
        assert client.shell("cat /proc/cpuinfo") == FLAGSHIP.proc_cpuinfo
        assert client.shell("cat /proc/meminfo").startswith("MemTotal:")
        props = client.shell("getprop")
        assert "[ro.soc.model]: [SM8650]\n" in props and "[ro.build.version.sdk]: [34]\n" in props
        assert client.shell("getprop no.such.key") == "\n"
        assert "Thermal Status: 0" in client.shell("dumpsys thermalservice")
        assert "  level: 75\n" in client.shell("dumpsys battery")
        phone.set_thermal(THERMAL_THROTTLED)
        assert "Thermal Status: 2" in client.shell("dumpsys thermalservice")
        phone.set_prop("ro.build.version.sdk", "35")
        assert client.shell("getprop ro.build.version.sdk") == "35\n"
    finally:
        client.close()


READ_ONLY_LINES = [f"{CONDITIONS_COMMAND}; echo __BENCHLAB_EXIT=$?", "dumpsys battery", "dumpsys no.such.service; echo x",
                   "getprop", "getprop ro.product.model", "getprop no.such.key", "getprop no.such.key fallback",
                   "getprop ro.product.model; getprop ro.soc.model", "echo a b=c"]


def test_lines_that_only_read_recordings_are_answered_without_a_shell_as_the_shell_answers_them(phone, signer):
    # `: ;` in front makes a line the device does not answer itself: /bin/sh runs the scripts.
    client = connect(phone, signer)
    try:
        phone.set_thermal(THERMAL_THROTTLED)  # answers are read when asked, not when the phone started
        for line in READ_ONLY_LINES:
            assert services.answer_in_process(phone, line) is not None, line
            assert client.shell(line) == client.shell(f": ; {line}"), line
    finally:
        client.close()
    for line in ("getprop | grep model", "dumpsys battery > /data/local/tmp/b", "echo -n x", "echo $HOME", "dumpsys",
                 "getprop;; getprop", "cat /proc/cpuinfo", "dumpsys 'battery'", "echo a$?b"):
        assert services.answer_in_process(phone, line) is None, line


def test_low_end_personality_is_a_different_phone(tmp_path, signer):
    with LoopbackAdbDevice(LOW_END, tmp_path / "phone") as device:
        client = connect(device, signer)
        assert client.shell("getprop ro.product.model; getprop ro.soc.model") == "SM-A055F\nMT6769Z\n"
        assert client.shell("cat /sys/devices/system/cpu/cpu7/cpufreq/cpuinfo_max_freq") == "2000000\n"
        assert "Hardware\t: MT6769Z" in client.shell("cat /proc/cpuinfo")
        assert "  level: 64\n" in client.shell("dumpsys battery")
        client.close()


def test_taskset_checks_the_mask_against_the_phones_cores(phone, signer):
    client = connect(phone, signer)
    try:
        assert client.shell("taskset 80 echo pinned") == "pinned\n"
        assert "Invalid argument" in client.shell("taskset 100 echo never")
        assert "taskset 80 echo pinned" in phone.commands
    finally:
        client.close()


def test_a_replaying_phone_sleeps_through_the_recorded_run_instead_of_computing(tmp_path, signer):
    """benchmarks/farm.py's phones: the shell runs the phone's own sh benchmark_model, which prints
    the recorded run's figures for the runs asked (more when --min_secs needs them) and has no outputs."""
    from android_runner.benchmark_model import parse_output
    from tests.fixtures_path import FIXTURES, fixture_text
    from android_runner.loopback.replay import replaying

    recorded = "benchmark_model/old_v1x_mobilenetv1_quant_arm64_multi.txt"
    fixture_text(recorded)  # skips without the recorded outputs
    personality = replaying(FLAGSHIP, FIXTURES / recorded)
    with LoopbackAdbDevice(personality, tmp_path / "phone") as phone:
        client = connect(phone, signer)
        try:
            client.push(io.BytesIO(b"\x7fELF placeholder\n"), f"{TMP}/benchmark_model")
            client.shell(f"chmod 755 {TMP}/benchmark_model")
            client.push(io.BytesIO(b"model bytes"), f"{TMP}/m.tflite")
            tool = f"taskset f0 {TMP}/benchmark_model --graph={TMP}/m.tflite --warmup_runs=1 --warmup_min_secs=0"
            asked = parse_output(client.shell(f"{tool} --num_runs=2 --min_secs=0 --benchlab_job=x 2>&1"))
            stretched = parse_output(client.shell(f"{tool} --num_runs=1 --min_secs=0.2 2>&1"))
            no_outputs = client.shell(f"{tool} --num_runs=1 --output_filepath={TMP}/o.bin; echo status=$?")
            missing = parse_output(client.shell(f"{TMP}/benchmark_model --graph={TMP}/gone.tflite 2>&1"))
        finally:
            client.close()
    assert (asked.status, asked.count, asked.graph) == ("ok", 2, f"{TMP}/m.tflite")
    assert (asked.avg_us, asked.init_us, asked.first_us, asked.min_us, asked.std_us) == (
        personality.replay_inference_us, personality.init_us, personality.first_us, 66699.0, 39.0)
    assert stretched.count == 3  # 0.2 s at 66.8 ms per run
    assert "no outputs to write" in no_outputs and "status=1" in no_outputs
    assert missing.status == "failed"
    assert personality.repeat_seconds(1, 2) == pytest.approx((9933 + 76606 + 2 * 66768) / 1e6)


# --- faults ----------------------------------------------------------------------------------------


def test_hung_shell_command_times_out_and_the_connection_survives(phone, signer):
    phone.faults.hang_shell = "dumpsys"
    client = connect(phone, signer)
    try:
        with pytest.raises((TcpTimeoutException, AdbTimeoutError)):
            client.shell("dumpsys battery", transport_timeout_s=SHORT_TIMEOUT_S,
                         read_timeout_s=SHORT_TIMEOUT_S)
        assert client.shell("echo alive") == "alive\n"
    finally:
        client.close()


def test_disk_full_makes_push_fail_with_the_devices_message(phone, signer):
    client = connect(phone, signer)
    try:
        client.push(io.BytesIO(b"x" * 100), f"{TMP}/small.bin")  # fine before the fault
        phone.faults.disk_full_after_bytes = 1000
        with pytest.raises(PushFailedError, match="No space left on device"):
            client.push(io.BytesIO(os.urandom(10_000)), f"{TMP}/big.bin")
        assert not phone.host_path(f"{TMP}/big.bin").exists()  # adbd removes the partial file
        assert client.shell(f"ls {TMP}") == "small.bin\n"
    finally:
        client.close()


def test_disk_full_is_reported_while_the_client_still_sends_as_adbd_does(phone, signer):
    """adbd answers FAIL at the failed write, drains DATA until DONE, then removes the file.
    adb-shell 0.4.4's push drops that early FAIL and times out (benchlab pushes on its own)."""
    phone.faults.disk_full_after_bytes = 1000
    client = connect(phone, signer)
    try:
        with pytest.raises((TcpTimeoutException, AdbTimeoutError)):
            client.push(io.BytesIO(bytes(3 * MAX_PAYLOAD)), f"{TMP}/big.bin",
                        transport_timeout_s=SHORT_TIMEOUT_S, read_timeout_s=SHORT_TIMEOUT_S)
    finally:
        client.close()
    assert not phone.host_path(f"{TMP}/big.bin").exists()
    assert phone.commands == []


def test_df_reports_the_space_left_while_the_disk_is_full(phone, signer):
    client = connect(phone, signer)
    try:
        phone.faults.disk_full_after_bytes = 5 * 1024 * 1024
        listing = client.shell(f"df -k {TMP}")
        phone.faults.disk_full_after_bytes = None
        normal = client.shell(f"df -k {TMP}")
    finally:
        client.close()
    assert listing.splitlines()[-1].split()[3] == "5120"
    assert normal.splitlines()[-1].split()[3] != "5120"


def test_connection_dropped_mid_push_raises_and_leaves_a_partial_file(phone, signer):
    phone.faults.drop_after_push_bytes = 100_000
    client = connect(phone, signer)
    started = time.monotonic()
    with pytest.raises((ConnectionError, OSError, TcpTimeoutException, AdbTimeoutError)):
        client.push(io.BytesIO(os.urandom(500_000)), f"{TMP}/model.tflite")
    client.close()
    assert time.monotonic() - started < TRANSPORT_TIMEOUT_S, "the drop raised, no transport timeout expired"
    assert phone.host_path(f"{TMP}/model.tflite").stat().st_size == 100_000
    phone.faults.drop_after_push_bytes = None
    again = connect(phone, signer)  # the phone is back once the cable is plugged in again
    assert again.shell(f"stat -c %s {TMP}/model.tflite") == "100000\n"
    again.close()


def test_connection_dropped_during_a_shell_command_raises(phone, signer):
    phone.faults.drop_during_shell = "benchmark"
    client = connect(phone, signer)
    with pytest.raises((ConnectionError, OSError, TcpTimeoutException, AdbTimeoutError)):
        client.shell("echo benchmark starting; sleep 5; echo never", read_timeout_s=TRANSPORT_TIMEOUT_S)
    client.close()


def test_reboot_drops_connections_refuses_new_ones_and_keeps_data(phone, signer):
    client = connect(phone, signer)
    client.push(io.BytesIO(b"model"), f"{TMP}/kept.bin")
    phone.faults.reboot_down_s = 600.0
    phone.faults.reboot_during_shell = "reboot-now"
    with pytest.raises((ConnectionError, OSError, TcpTimeoutException, AdbTimeoutError)):
        client.shell("echo reboot-now", transport_timeout_s=SHORT_TIMEOUT_S, read_timeout_s=SHORT_TIMEOUT_S)
    client.close()
    assert phone.rebooting and phone.faults.reboot_during_shell is None  # one reboot, not one per command
    with pytest.raises((ConnectionError, OSError, TcpTimeoutException, AdbTimeoutError)):
        connect(phone, signer)  # adbd is not up yet
    phone.finish_boot()
    again = connect(phone, signer)
    try:
        assert again.shell(f"cat {TMP}/kept.bin") == "model"  # /data survives a reboot
    finally:
        again.close()


def test_stop_kills_running_commands_and_closes_connections(tmp_path, signer):
    device = LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone")
    device.start()
    client = connect(device, signer)
    assert device.connections == 1
    device.stop()
    assert device.connections == 0
    with pytest.raises((ConnectionError, OSError, TcpTimeoutException, AdbTimeoutError)):
        client.shell("echo gone", transport_timeout_s=SHORT_TIMEOUT_S, read_timeout_s=SHORT_TIMEOUT_S)
    client.close()


def test_device_stops_by_itself_after_its_lifetime(tmp_path):
    device = LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", lifetime_s=0.3)
    port = device.start()
    deadline = time.monotonic() + 120  # a safety net: a busy machine may run the lifetime's timer late
    while not device.stopping and time.monotonic() < deadline:
        time.sleep(0.05)
    assert device.stopping
    while time.monotonic() < deadline:  # the listening socket closes a moment after stopping begins
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.05)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# --- the stock adb client -----------------------------------------------------------------------------


@pytest.fixture
def stock_adb(tmp_path: Path):
    """Run the stock adb client against a private adb server (own port, own HOME and key); yields
    the client, the server's public key and the server's port."""
    adb = shutil.which("adb")
    if adb is None:
        pytest.skip("the stock adb client is not installed (Debian package `adb`)")
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run([adb, "-P", str(port), *args], env=env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    try:
        run("start-server").check_returncode()
        yield run, home / ".android" / "adbkey.pub", port
    finally:
        run("kill-server")


def test_stock_adb_client_connects_shells_pushes_and_pulls(stock_adb, tmp_path):
    adb, server_key, _port = stock_adb
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_keys=[server_key],
                           accept_new_keys=False) as device:
        assert adb("connect", device.serial).stdout.strip() == f"connected to {device.serial}"
        devices = adb("devices", "-l").stdout
        assert re.search(rf"^{re.escape(device.serial)}\s+device product:e1qsqw model:SM_S921U "
                         r"device:e1q\b", devices, re.M), devices
        model = adb("-s", device.serial, "shell", "getprop", "ro.product.model")
        assert model.stdout == "SM-S921U\n"
        payload = os.urandom(MAX_PAYLOAD + 4096)  # more than one WRTE
        (tmp_path / "in.bin").write_bytes(payload)
        push = adb("-s", device.serial, "push", str(tmp_path / "in.bin"), f"{TMP}/in.bin")
        assert push.returncode == 0, push.stderr
        pull = adb("-s", device.serial, "pull", f"{TMP}/in.bin", str(tmp_path / "out.bin"))
        assert pull.returncode == 0, pull.stderr
        assert (tmp_path / "out.bin").read_bytes() == payload
        device.faults.disk_full_after_bytes = 10
        full = adb("-s", device.serial, "push", str(tmp_path / "in.bin"), f"{TMP}/again.bin")
        assert full.returncode == 1
        assert "remote write failed: No space left on device" in full.stdout + full.stderr
        root = adb("-s", device.serial, "root")
        assert root.stdout == "adbd cannot run as root in production builds\n"


def test_stock_adb_client_sees_an_unauthorized_phone(stock_adb, tmp_path):
    adb, _server_key, _port = stock_adb
    with LoopbackAdbDevice(LOW_END, tmp_path / "phone", accept_new_keys=False) as device:
        # adb reports before any "user" could answer, as it does with a real phone.
        assert "failed to authenticate" in adb("connect", device.serial).stdout
        assert f"{device.serial}\tunauthorized" in adb("devices").stdout
        shell = adb("-s", device.serial, "shell", "echo hi")
        assert shell.returncode == 1 and "device unauthorized" in shell.stderr


def test_discovery_reads_each_phones_state_from_the_stock_adb_server(stock_adb, tmp_path, monkeypatch,
                                                                    android_loopback_env):
    """benchlab lists phones from the server's own host:devices-l answer: a trusted phone opens as
    an AndroidDevice through the server, an untrusted one is listed with what to do."""
    adb, server_key, port = stock_adb
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "ready", accept_keys=[server_key], accept_new_keys=False) as ready, \
            LoopbackAdbDevice(LOW_END, tmp_path / "locked", accept_new_keys=False) as locked:
        adb("connect", ready.serial)
        adb("connect", locked.serial)
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
        monkeypatch.setenv("BENCHLAB_ADB_SERVER", "1")
        listing = server_listing()
        assert re.search(rf"^{re.escape(ready.serial)}\s+device product:e1qsqw model:SM_S921U ", listing, re.M)
        assert {phone.serial: phone for phone in parse_devices_l(listing)} == {
            ready.serial: ListedPhone(ready.serial, "device", "SM_S921U"),
            locked.serial: ListedPhone(locked.serial, "unauthorized")}
        found = {device.info.id: device for device in discover()}
        assert set(found) == {ready.serial, locked.serial}
        opened = found[ready.serial]
        assert isinstance(opened, AndroidDevice)
        assert (opened.info.transport, opened.info.model) == ("adb-server", "SM-S921U")
        opened.close()
        unusable = found[locked.serial]
        assert isinstance(unusable, UnavailableDevice) and unusable.info.state == "unauthorized"
        assert unusable.reason == f"unauthorized: accept the USB debugging prompt on the phone ({locked.serial})"


# --- the stand-in benchmark tools ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2-layer Keras classifier and a model with an op LiteRT cannot resolve, as .tflite."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow")
    folder = tmp_path_factory.mktemp("models")
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(8,)),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dense(4, activation="softmax"),
    ])
    (folder / "tiny.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)], autograph=False)
    def erfinv(x):
        return tf.math.erfinv(x)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([erfinv.get_concrete_function()], erfinv)
    converter.allow_custom_ops = True
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    (folder / "custom_op.tflite").write_bytes(converter.convert())
    return {"tiny": folder / "tiny.tflite", "custom": folder / "custom_op.tflite"}


def install_tools(client: AdbDeviceTcp, models: dict[str, Path]) -> None:
    """Push the models and placeholder runner binaries, as the harness's prepare() would."""
    for name, path in models.items():
        client.push(str(path), f"{TMP}/{path.name}")
    client.push(io.BytesIO(b"\x7fELF placeholder"), f"{TMP}/benchmark_model", st_mode=0o100755)


FAST = "--warmup_runs=1 --warmup_min_secs=0 --num_runs=5 --min_secs=0"


def test_benchmark_model_prints_the_real_tools_format(phone, signer, tiny_models):
    client = connect(phone, signer, TOOL_TIMEOUT_S)
    try:
        install_tools(client, tiny_models)
        out = client.shell(f"taskset c0 {TMP}/benchmark_model --graph={TMP}/tiny.tflite "
                           f"--num_threads=4 {FAST} --output_filepath={TMP}/out.bin; echo EXIT:$?",
                           read_timeout_s=30)
    finally:
        client.close()
    lines = out.splitlines()
    for expected in ("INFO: STARTING!", "INFO: Log parameter values verbosely: [0]",
                     "INFO: Num threads: [4]", f"INFO: Graph: [{TMP}/tiny.tflite]",
                     "INFO: #threads used for CPU inference: [4]",
                     f"INFO: Loaded model {TMP}/tiny.tflite",
                     "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
                     "VERBOSE: Replacing 3 out of 3 node(s) with delegate (TfLiteXNNPackDelegate) "
                     "node, yielding 1 partitions for the whole graph.",
                     "INFO: Running benchmark for at least 5 iterations and at least 0 seconds but "
                     "terminate if exceeding 150 seconds.",
                     "EXIT:0"):
        assert expected in lines, out
    assert re.search(r"^INFO: The input model file size \(MB\): 0\.00\d+$", out, re.M), out
    assert re.search(r"^INFO: Initialized session in [\d.]+ms\.$", out, re.M), out
    assert re.search(r"^INFO: count=5 first=\d+ curr=\d+ min=\d+ max=\d+ avg=[\d.e+]+ std=\d+ "
                     r"p5=\d+ median=\d+ p95=\d+$|^INFO: count=5 curr=\d+\(all same\)", out, re.M), out
    assert re.search(r"^INFO: Inference timings in us: Init: \d+, First inference: \d+, "
                     r"Warmup \(avg\): [\d.e+]+, Inference \(avg\): [\d.e+]+$", out, re.M), out
    assert re.search(r"^INFO: Memory footprint delta from the start of the tool \(MB\): "
                     r"init=[\d.e+-]+ overall=[\d.e+-]+$", out, re.M), out
    assert phone.host_path(f"{TMP}/out.bin").stat().st_size == 4 * 4  # one float32[1,4] output


def test_benchmark_model_gpu_is_partial_on_flagship_and_refused_on_low_end(tmp_path, signer,
                                                                            tiny_models):
    command = f"{TMP}/benchmark_model --graph={TMP}/tiny.tflite --use_gpu=true {FAST}; echo EXIT:$?"
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "flagship") as flagship:
        client = connect(flagship, signer, TOOL_TIMEOUT_S)
        install_tools(client, tiny_models)
        out = client.shell(command, read_timeout_s=30)
        client.close()
    assert "SOFTMAX: Operation is not supported." in out
    assert ("INFO: Explicitly applied GPU delegate, and the model graph will be partially executed "
            "by the delegate w/ 1 delegate kernels.") in out
    assert "Replacing 2 out of 3 node(s) with delegate (TfLiteGpuDelegateV2)" in out
    assert out.rstrip().endswith("EXIT:0")

    with LoopbackAdbDevice(LOW_END, tmp_path / "low_end") as low_end:
        client = connect(low_end, signer, TOOL_TIMEOUT_S)
        install_tools(client, tiny_models)
        out = client.shell(command, read_timeout_s=30)
        client.close()
    assert "ERROR: Failed to apply GPU delegate.\nERROR: Benchmarking failed.\nEXIT:1\n" in out
    assert "Inference timings" not in out


def test_benchmark_model_unknown_custom_op_fails_with_the_runtime_error(phone, signer, tiny_models):
    client = connect(phone, signer, TOOL_TIMEOUT_S)
    try:
        install_tools(client, tiny_models)
        out = client.shell(f"{TMP}/benchmark_model --graph={TMP}/custom_op.tflite {FAST}; echo EXIT:$?",
                           read_timeout_s=30)
    finally:
        client.close()
    assert "ERROR: Encountered unresolved custom op: Erfinv." in out
    assert "ERROR: Node number 0 (Erfinv) failed to prepare." in out
    assert out.endswith("ERROR: Failed to allocate tensors!\nERROR: Benchmarking failed.\nEXIT:1\n")


def test_benchmark_model_crash_and_missing_binary_look_like_a_phone(phone, signer, tiny_models):
    client = connect(phone, signer, TOOL_TIMEOUT_S)
    try:
        missing = client.shell(f"{TMP}/benchmark_model --graph={TMP}/tiny.tflite; echo EXIT:$?")
        assert "not found" in missing and missing.endswith("EXIT:127\n")
        install_tools(client, tiny_models)
        phone.faults.crash_benchmark = True
        crashed = client.shell(f"{TMP}/benchmark_model --graph={TMP}/tiny.tflite {FAST}; echo EXIT:$?",
                               read_timeout_s=30)
    finally:
        client.close()
    assert f"INFO: Loaded model {TMP}/tiny.tflite" in crashed
    assert "Segmentation fault" in crashed and crashed.endswith("EXIT:139\n")


def test_the_harness_eval_chunks_run_batched_and_single_through_the_real_flags(phone, signer, tiny_models, tmp_path):
    """android_runner's evaluation chunks (dd + --input_layer_shape resizing the batch +
    --input_layer_value_files + --output_filepath) give, batched or one sample per process, the
    outputs this machine's interpreter gives sample by sample."""
    np = pytest.importorskip("numpy")
    from ai_edge_litert.interpreter import Interpreter

    from android_runner.commands import EvalInput, eval_chunk_command
    from benchlab.records import AcceleratorSetting

    inputs = np.random.default_rng(0).uniform(-1, 1, size=(6, 1, 8)).astype(np.float32)
    (tmp_path / "inputs-0.bin").write_bytes(inputs.tobytes())
    workdir = f"{TMP}/eval"
    cpu = AcceleratorSetting(name="cpu", kind="cpu", threads=2)

    def chunk(first: int, count: int, output: str) -> str:
        return eval_chunk_command(f"{TMP}/benchmark_model", f"{TMP}/tiny.tflite", cpu, workdir,
                                  [EvalInput("input", (1, 8), inputs[0].nbytes)], first, count, output,
                                  cpu_mask="c0", marker="job-1")

    client = connect(phone, signer, TOOL_TIMEOUT_S)
    try:
        install_tools(client, tiny_models)
        client.shell(f"mkdir -p {workdir}")
        client.push(str(tmp_path / "inputs-0.bin"), f"{workdir}/inputs-0.bin")
        for first, count in ((0, 4), (4, 2)):  # a full batch and a shorter last one
            report = client.shell(chunk(first, count, "batched.bin") + "; echo EXIT:$?", read_timeout_s=60)
            assert report.endswith("EXIT:0\n"), report
        for first in range(6):
            report = client.shell(chunk(first, 1, "single.bin") + "; echo EXIT:$?", read_timeout_s=60)
            assert report.endswith("EXIT:0\n"), report
        client.pull(f"{workdir}/batched.bin", str(tmp_path / "batched.bin"))
        client.pull(f"{workdir}/single.bin", str(tmp_path / "single.bin"))
    finally:
        client.close()
    assert any("--input_layer_shape=4,8" in command for command in phone.commands)
    reference = Interpreter(model_path=str(tiny_models["tiny"]))
    reference.allocate_tensors()
    expected = []
    for sample in inputs:
        reference.set_tensor(reference.get_input_details()[0]["index"], sample)
        reference.invoke()
        expected.append(reference.get_tensor(reference.get_output_details()[0]["index"]).copy())
    for name in ("batched.bin", "single.bin"):
        outputs = np.frombuffer((tmp_path / name).read_bytes(), dtype=np.float32).reshape(6, 1, 4)
        np.testing.assert_allclose(outputs, np.stack(expected), rtol=1e-5, atol=1e-6)


def test_a_failed_eval_chunk_prints_the_tools_last_lines(phone, signer, tiny_models, tmp_path):
    """A value file of the wrong size (a batch the command did not declare) fails with the real
    tool's message, exit 1, and appends nothing."""
    from android_runner.commands import EvalInput, eval_chunk_command
    from benchlab.records import AcceleratorSetting

    workdir = f"{TMP}/eval"
    client = connect(phone, signer, TOOL_TIMEOUT_S)
    try:
        install_tools(client, tiny_models)
        client.shell(f"mkdir -p {workdir} && head -c 96 /dev/zero > {workdir}/inputs-0.bin")
        command = eval_chunk_command(f"{TMP}/benchmark_model", f"{TMP}/tiny.tflite",
                                     AcceleratorSetting(name="cpu", kind="cpu"), workdir,
                                     [EvalInput("input", (1, 8), 32)], 0, 3, "out.bin", cpu_mask=None,
                                     marker="job-2")
        broken = command.replace("--input_layer_shape=3,8", "--input_layer_shape=2,8")
        report = client.shell(broken + "; echo EXIT:$?", read_timeout_s=60)
        assert client.shell(f"ls {workdir}") == "in-0.bin\ninputs-0.bin\nrun.log\n"
    finally:
        client.close()
    assert "The size of" in report and "It should be 64 bytes." in report and report.endswith("EXIT:1\n")
