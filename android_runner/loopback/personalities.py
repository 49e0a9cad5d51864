"""What a loopback phone says about itself: two personalities, a low-end and a flagship phone.

A personality is plain data: the getprop properties, per-core cpufreq maxima, /proc/cpuinfo and
/proc/meminfo text, the `dumpsys thermalservice` / `dumpsys battery` text, and how its
accelerators behave under the stand-in benchmark_model (see ``fake_benchmark_model.py``).

Where the text comes from:

- thermal and battery dumps are real recordings (``recorded/``, copied from
  ../shared/fixtures/android_props; provenance in ``recorded/README.md``). The low-end phone's
  battery dump is AOSP's ``BatteryService`` layout (no vendor extras), written for this file;
- getprop key sets follow real phones of those models (the moto g75 fixture shows the format:
  ``[key]: [value]``, sorted by key); the values are realistic, not copied from one unit;
- /proc/cpuinfo is rendered in the arm64 kernel's layout: the flagship (GKI 6.1 kernel) prints no
  ``Hardware`` line, the MediaTek 4.19 kernel of the low-end phone does.

Accelerator rules (documented here because tests depend on them):

- FLAGSHIP has an Adreno GPU whose delegate "applies" only partially: it refuses SOFTMAX and any
  CUSTOM op (the loopback's rule, chosen so a classifier head always shows partial delegation),
  runs everything else, and refuses an input batch above 1 (``gpu_max_batch``; the loopback's
  rule, so a harness's fallback to one sample per process is exercised); NNAPI lists
  ``qti-default,qti-dsp,qti-gpu,nnapi-reference``.
- LOW_END has no usable GPU delegate (no OpenCL library; the GL backend is compiled out of the
  benchmark binary): ``--use_gpu=true`` fails with the real error lines and exit code 1. NNAPI
  has only ``nnapi-reference`` (the CPU reference), which benchmark_model does not use while
  ``--disable_nnapi_cpu`` is true (its default).
- ``latency_scale`` stretches each measured inference on this machine's CPU (LOW_END is slower).
- Neither phone has power rails; ``replace(FLAGSHIP, power_rails=power_rails.PIXEL6_RAILS)`` gives
  one a powerstats HAL whose counters advance with time and inference (power_rails.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Mapping

from .thermal import ThermalModel, thermal_dump
from .power_rails import PowerRail

_RECORDED = Path(__file__).with_name("recorded")


def _recorded(name: str) -> str:
    return (_RECORDED / name).read_text(encoding="utf-8")


#: `dumpsys thermalservice` of a Qualcomm phone, Thermal Status 0 (real recording).
THERMAL_NORMAL = _recorded("thermalservice_qcom_nsp_status0.txt")
#: `dumpsys thermalservice` of an 8-core phone throttling at Thermal Status 2 (real recording).
THERMAL_THROTTLED = _recorded("thermalservice_throttled_status2.txt")
#: `dumpsys battery` of a Samsung Galaxy S24: level 75, USB powered, charging (real recording).
BATTERY_SAMSUNG_S24 = _recorded("dumpsys_battery_samsung_s24.txt")
#: `dumpsys battery` in AOSP's layout (Android 13): level 64, USB powered, charging.
BATTERY_AOSP_CHARGING = """\
Current Battery Service state:
  AC powered: false
  USB powered: true
  Wireless powered: false
  Dock powered: false
  Max charging current: 500000
  Max charging voltage: 5000000
  Charge counter: 3120000
  status: 2
  health: 2
  present: true
  level: 64
  scale: 100
  voltage: 4012
  temperature: 312
  technology: Li-ion
"""


@dataclass(frozen=True)
class CoreType:
    """One CPU core as /proc/cpuinfo describes it (hex strings as the kernel prints them)."""

    implementer: str
    variant: str
    part: str
    revision: int


@dataclass(frozen=True)
class Personality:
    """Everything a loopback device answers about itself. Build new ones with ``replace()``.

    ``props`` is getprop's view (key → value). ``max_freqs_khz[i]`` is cpu i's
    ``cpuinfo_max_freq``. ``device_files`` are empty placeholder files created under the device
    root (e.g. the vendor OpenCL library a harness may look for). ``gpu`` is "partial" (delegate
    applies except ``gpu_unsupported_ops``) or "unavailable" (delegate fails to apply).
    """

    name: str
    props: Mapping[str, str] = field(hash=False)
    max_freqs_khz: tuple[int, ...]
    proc_cpuinfo: str
    proc_meminfo: str
    thermal_dump: str
    battery_dump: str
    gpu: Literal["partial", "unavailable"]
    gpu_unsupported_ops: frozenset[str] = frozenset()
    gpu_max_batch: int | None = None
    nnapi_accelerators: tuple[str, ...] = ("nnapi-reference",)
    latency_scale: float = 1.0
    device_files: tuple[str, ...] = ()
    #: Heats under load and throttles, on simulated time (thermal.py); None: never heats.
    thermal: ThermalModel | None = None
    #: Power rails its powerstats HAL reports (power_rails.py); () for a phone without (both below).
    power_rails: tuple[PowerRail, ...] = ()

    @property
    def model(self) -> str:
        """ro.product.model."""
        return self.props["ro.product.model"]

    @property
    def manufacturer(self) -> str:
        """ro.product.manufacturer."""
        return self.props["ro.product.manufacturer"]

    @property
    def device(self) -> str:
        """ro.product.device (the codename)."""
        return self.props["ro.product.device"]

    @property
    def product_name(self) -> str:
        """ro.product.name."""
        return self.props["ro.product.name"]

    @property
    def soc(self) -> str:
        """ro.soc.model."""
        return self.props["ro.soc.model"]

    @property
    def abi(self) -> str:
        """ro.product.cpu.abi."""
        return self.props["ro.product.cpu.abi"]

    @property
    def android_release(self) -> str:
        """ro.build.version.release."""
        return self.props["ro.build.version.release"]

    @property
    def sdk(self) -> int:
        """ro.build.version.sdk as a number."""
        return int(self.props["ro.build.version.sdk"])

    @property
    def num_cores(self) -> int:
        """How many CPU cores the phone has."""
        return len(self.max_freqs_khz)

    def getprop_text(self) -> str:
        """Return what `getprop` prints: ``[key]: [value]`` lines sorted by key."""
        return "".join(f"[{key}]: [{self.props[key]}]\n" for key in sorted(self.props))

    def benchmark_model_script(self) -> str | None:
        """A ``/bin/sh`` benchmark_model for this phone instead of the Python stand-in, or None
        (the Python stand-in, fake_benchmark_model.py). A replaying phone has one (replay.py)."""
        return None

    def benchmark_config(self) -> dict[str, object]:
        """Return the facts the stand-in benchmark tools need (serialised into their environment)."""
        return {
            "name": self.name,
            "model": self.model,
            "gpu": self.gpu,
            "gpu_unsupported_ops": sorted(self.gpu_unsupported_ops),
            "gpu_max_batch": self.gpu_max_batch,
            "nnapi_accelerators": list(self.nnapi_accelerators),
            "latency_scale": self.latency_scale,
            "thermal": self.thermal.config() if self.thermal is not None else None,
        }


def render_cpuinfo(
    cores: list[CoreType],
    features: str,
    bogomips: str,
    hardware: str | None = None,
) -> str:
    """Return /proc/cpuinfo text in the arm64 kernel's layout, one block per core.

    ``hardware`` adds the trailing ``Hardware : ...`` line that vendor (pre-GKI) kernels print.
    """
    blocks = []
    for index, core in enumerate(cores):
        blocks.append(
            f"processor\t: {index}\n"
            f"BogoMIPS\t: {bogomips}\n"
            f"Features\t: {features}\n"
            f"CPU implementer\t: {core.implementer}\n"
            "CPU architecture: 8\n"
            f"CPU variant\t: {core.variant}\n"
            f"CPU part\t: {core.part}\n"
            f"CPU revision\t: {core.revision}\n"
        )
    text = "\n".join(blocks)
    if hardware is not None:
        text += f"\nHardware\t: {hardware}\n"
    return text


def render_meminfo(total_kb: int, available_kb: int) -> str:
    """Return /proc/meminfo text (the first lines of an Android 13/14 kernel's file)."""
    free_kb = available_kb // 4
    cached_kb = available_kb - free_kb
    rows = [
        ("MemTotal", total_kb),
        ("MemFree", free_kb),
        ("MemAvailable", available_kb),
        ("Buffers", total_kb // 400),
        ("Cached", cached_kb),
        ("SwapCached", 21036),
        ("Active", total_kb // 4),
        ("Inactive", total_kb // 5),
        ("SwapTotal", total_kb // 2),
        ("SwapFree", total_kb // 3),
        ("Dirty", 212),
        ("Writeback", 0),
        ("AnonPages", total_kb // 6),
        ("Mapped", total_kb // 9),
        ("Shmem", 18004),
        ("KReclaimable", 190820),
        ("Slab", 402316),
        ("PageTables", 141024),
        ("CommitLimit", total_kb),
        ("Committed_AS", total_kb * 9),
        ("VmallocTotal", 263061440),
        ("VmallocUsed", 241000),
    ]
    return "".join(f"{(key + ':'):<16}{value:>8} kB\n" for key, value in rows)


_ARMV9_FEATURES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma "
    "lrcpc dcpop sha3 sm3 sm4 asimddp sha512 asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg "
    "dcpodp flagm2 frint i8mm bf16 bti"
)
_ARMV82_FEATURES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop "
    "asimddp"
)

_A520 = CoreType("0x41", "0x0", "0xd80", 1)
_A720 = CoreType("0x41", "0x0", "0xd81", 1)
_X4 = CoreType("0x41", "0x0", "0xd82", 1)
_A55 = CoreType("0x41", "0x2", "0xd05", 0)
_A75 = CoreType("0x41", "0x3", "0xd0a", 1)


def _common_props(abi64_only: bool = False) -> dict[str, str]:
    abilist = "arm64-v8a" if abi64_only else "arm64-v8a,armeabi-v7a,armeabi"
    return {
        "ro.product.cpu.abi": "arm64-v8a",
        "ro.product.cpu.abilist": abilist,
        "ro.product.cpu.abilist32": "" if abi64_only else "armeabi-v7a,armeabi",
        "ro.product.cpu.abilist64": "arm64-v8a",
        "ro.build.type": "user",
        "ro.build.tags": "release-keys",
        "ro.build.characteristics": "phone",
        "ro.secure": "1",
        "ro.debuggable": "0",
        "ro.adb.secure": "1",
        "ro.crypto.state": "encrypted",
        "ro.product.locale": "en-US",
        "ro.zygote": "zygote64_32",
        "persist.sys.usb.config": "mtp,adb",
        "sys.usb.config": "mtp,adb",
        "sys.usb.state": "mtp,adb",
        "sys.boot_completed": "1",
        "dev.bootcomplete": "1",
        "init.svc.adbd": "running",
        "ro.property_service.version": "2",
    }


_FLAGSHIP_PROPS = {
    **_common_props(),
    "ro.product.model": "SM-S921U",
    "ro.product.manufacturer": "samsung",
    "ro.product.brand": "samsung",
    "ro.product.name": "e1qsqw",
    "ro.product.device": "e1q",
    "ro.build.product": "e1q",
    "ro.product.board": "pineapple",
    "ro.product.system.model": "SM-S921U",
    "ro.product.system.manufacturer": "samsung",
    "ro.product.vendor.model": "SM-S921U",
    "ro.product.vendor.manufacturer": "samsung",
    "ro.product.first_api_level": "34",
    "ro.product.build.version.sdk": "34",
    "ro.board.platform": "pineapple",
    "ro.hardware": "qcom",
    "ro.boot.hardware": "qcom",
    "ro.hardware.egl": "adreno",
    "ro.hardware.vulkan": "adreno",
    "ro.opengles.version": "196610",
    "ro.soc.manufacturer": "QTI",
    "ro.soc.model": "SM8650",
    "ro.build.version.release": "14",
    "ro.build.version.release_or_codename": "14",
    "ro.build.version.sdk": "34",
    "ro.build.version.security_patch": "2024-09-01",
    "ro.build.version.incremental": "S921USQS4AXI1",
    "ro.build.id": "UP1A.231005.007",
    "ro.build.display.id": "UP1A.231005.007.S921USQS4AXI1",
    "ro.build.fingerprint": "samsung/e1qsqw/e1q:14/UP1A.231005.007/S921USQS4AXI1:user/release-keys",
    "ro.vndk.version": "34",
    "ro.serialno": "R5CX30ABCDE",
    "ro.sf.lcd_density": "450",
    "gsm.version.baseband": "S921USQS4AXI1,S921USQS4AXI1",
    "vendor.gsm.version.baseband": "S921USQS4AXI1",
}

_LOW_END_PROPS = {
    **_common_props(),
    "ro.product.model": "SM-A055F",
    "ro.product.manufacturer": "samsung",
    "ro.product.brand": "samsung",
    "ro.product.name": "a05nnxx",
    "ro.product.device": "a05",
    "ro.build.product": "a05",
    "ro.product.board": "MT6768",
    "ro.product.system.model": "SM-A055F",
    "ro.product.system.manufacturer": "samsung",
    "ro.product.vendor.model": "SM-A055F",
    "ro.product.vendor.manufacturer": "samsung",
    "ro.product.first_api_level": "33",
    "ro.product.build.version.sdk": "33",
    "ro.board.platform": "mt6768",
    "ro.hardware": "mt6768",
    "ro.boot.hardware": "mt6768",
    "ro.hardware.egl": "mali",
    "ro.opengles.version": "196610",
    "ro.soc.manufacturer": "Mediatek",
    "ro.soc.model": "MT6769Z",
    "ro.build.version.release": "13",
    "ro.build.version.release_or_codename": "13",
    "ro.build.version.sdk": "33",
    "ro.build.version.security_patch": "2024-06-01",
    "ro.build.version.incremental": "A055FXXS3BXF1",
    "ro.build.id": "TP1A.220624.014",
    "ro.build.display.id": "TP1A.220624.014.A055FXXS3BXF1",
    "ro.build.fingerprint": "samsung/a05nnxx/a05:13/TP1A.220624.014/A055FXXS3BXF1:user/release-keys",
    "ro.vndk.version": "33",
    "ro.serialno": "R9KW80FGHIJ",
    "ro.sf.lcd_density": "300",
    "ro.config.low_ram": "false",
    "gsm.version.baseband": "A055FXXS3BXF1,A055FXXS3BXF1",
    "vendor.gsm.version.baseband": "MOLY.LR12A.R3.MP.V216.6",
}

_FLAGSHIP_MEM_KB = 7_498_348
_LOW_END_MEM_KB = 3_756_012

FLAGSHIP = Personality(
    name="flagship",
    props=MappingProxyType(_FLAGSHIP_PROPS),
    # Snapdragon 8 Gen 3 for Galaxy: 2x A520, 3x A720 @3.15, 2x A720 @2.96, 1x X4 prime core.
    max_freqs_khz=(2265600, 2265600, 3148800, 3148800, 3148800, 2956800, 2956800, 3398400),
    proc_cpuinfo=render_cpuinfo(
        [_A520, _A520, _A720, _A720, _A720, _A720, _A720, _X4], _ARMV9_FEATURES, "38.40"
    ),
    proc_meminfo=render_meminfo(_FLAGSHIP_MEM_KB, 3_912_044),
    thermal_dump=THERMAL_NORMAL,
    battery_dump=BATTERY_SAMSUNG_S24,
    gpu="partial",
    gpu_unsupported_ops=frozenset({"SOFTMAX", "CUSTOM"}),
    gpu_max_batch=1,
    nnapi_accelerators=("qti-default", "qti-dsp", "qti-gpu", "nnapi-reference"),
    latency_scale=1.0,
    device_files=("/vendor/lib64/libOpenCL.so", "/system/lib64/libneuralnetworks.so"),
)

LOW_END = Personality(
    name="low-end",
    props=MappingProxyType(_LOW_END_PROPS),
    # Helio G85: 6x A55 @1.8 GHz and 2x A75 @2.0 GHz.
    max_freqs_khz=(1800000,) * 6 + (2000000,) * 2,
    proc_cpuinfo=render_cpuinfo([_A55] * 6 + [_A75] * 2, _ARMV82_FEATURES, "26.00", "MT6769Z"),
    proc_meminfo=render_meminfo(_LOW_END_MEM_KB, 1_244_508),
    thermal_dump=THERMAL_NORMAL,
    battery_dump=BATTERY_AOSP_CHARGING,
    gpu="unavailable",
    nnapi_accelerators=("nnapi-reference",),
    latency_scale=2.5,
    device_files=("/system/lib64/libneuralnetworks.so",),
)

#: FLAGSHIP with a thermal model: heats under continuous load and throttles (thermal.py), for sustained mode.
HOT_FLAGSHIP = replace(FLAGSHIP, name="hot-flagship", thermal=ThermalModel(),
                       thermal_dump=thermal_dump(ThermalModel(), ThermalModel().ambient_c))

PERSONALITIES = {p.name: p for p in (LOW_END, FLAGSHIP, HOT_FLAGSHIP)}
