"""Delivery: whether a shipped model can be bundled in the app, or should be downloaded on first run.

A model bundled in the app counts, compressed (the deflated size inside an APK or IPA, the
variant's `size_compressed_bytes`), on top of the rest of the app (the suite's
`delivery.app_base_mb`) against the store limits on what a user downloads at install. Where that
total crosses one of them, the report marks the model "download on first run" and names the limit.
Models delivered apart from the app (a Play feature module or asset pack, Apple's on-demand
resources) count alone against those containers' own limits, shown beside it.

The limits are data (STORE_LIMITS), each with the page it comes from and the day it was checked.
Stores write "MB" and "GB" without saying whether they mean 10^6 or 2^20 bytes; the smaller
(decimal) reading is taken, so a model is never called bundleable when it might not be.

This module decides; benchlab.views.delivery renders a Delivery as table rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchlab.formats import format_named

MB = 1000 * 1000
GB = 1000 * MB
GOOGLE_PLAY = "Google Play"
APP_STORE = "App Store"
#: The platform whose apps each store ships; a format says which platforms' apps can bundle it
#: (benchlab.formats: a .tflite runs on both, Core ML only on Apple's).
STORE_PLATFORMS = {GOOGLE_PLAY: "android", APP_STORE: "ios"}
PLAY_SIZE_LIMITS = "https://support.google.com/googleplay/android-developer/answer/9859372"
#: Apple's own page (https://developer.apple.com/documentation/xcode/reducing-your-app-s-size) states
#: that the App Store limits downloads over a mobile connection but not the figure; this one does.
APPLE_CELLULAR_LIMIT = "https://simplymac.com/ios/ios-app-size-limits"
APPLE_ODR_LIMITS = "https://developer.apple.com/help/app-store-connect/reference/on-demand-resources-size-limit"


@dataclass(frozen=True)
class StoreLimit:
    """One store's limit on a download; `bundled` limits count the whole app, the others the model alone."""

    store: str
    what: str
    bytes: int
    bundled: bool
    source: str
    checked: str
    note: str = ""

    @property
    def label(self) -> str:
        """Return the limit as a reader names it: "Google Play base module 200 MB"."""
        size = f"{self.bytes / GB:g} GB" if self.bytes >= GB else f"{self.bytes / MB:g} MB"
        return f"{self.store} {self.what} {size}"


STORE_LIMITS: tuple[StoreLimit, ...] = (
    # Play Console help, "Google Play maximum size limits" table; limits are on the compressed
    # download size. (Older Play Asset Delivery docs gave 1 GB install-time and 512 MB per
    # on-demand pack; the current table has 1.5 GB per asset pack and 4 GB cumulative.)
    StoreLimit(GOOGLE_PLAY, "base module", 200 * MB, True, PLAY_SIZE_LIMITS, "2026-11-30",
               "compressed download size of the base module, which an app that bundles its model carries"),
    StoreLimit(GOOGLE_PLAY, "feature module", 200 * MB, False, PLAY_SIZE_LIMITS, "2026-11-30",
               "each on-demand (Play Feature Delivery) module, compressed"),
    StoreLimit(GOOGLE_PLAY, "asset pack", 1500 * MB, False, PLAY_SIZE_LIMITS, "2026-11-30",
               "each Play Asset Delivery pack (install-time, fast-follow or on-demand), compressed"),
    # 200 MB since May 2019 (150 MB before). Since iOS 13 a user can allow a larger download over
    # cellular, so crossing it asks or waits for Wi-Fi rather than refuses.
    StoreLimit(APP_STORE, "cellular download", 200 * MB, True, APPLE_CELLULAR_LIMIT, "2026-11-30",
               "over-the-air download without Wi-Fi; above it the App Store waits for Wi-Fi or asks"),
    StoreLimit(APP_STORE, "on-demand resources asset pack", 512 * MB, False, APPLE_ODR_LIMITS, "2026-11-30",
               "each thinned asset pack for apps supporting iOS earlier than 18 (8 GB from iOS 18)"),
)


@dataclass(frozen=True)
class LimitCheck:
    """One limit against the bytes that count for it."""

    limit: StoreLimit
    counted_bytes: int

    @property
    def crosses(self) -> bool:
        """Whether the counted bytes are above the limit."""
        return self.counted_bytes > self.limit.bytes


@dataclass(frozen=True)
class Delivery:
    """How one shipped model reaches its users, against every limit of the stores that ship its format."""

    model: str
    variant: str
    format: str
    model_bytes: int
    compressed: bool
    app_base_bytes: int
    checks: tuple[LimitCheck, ...]

    @property
    def crossed_if_bundled(self) -> tuple[StoreLimit, ...]:
        """Return the install-download limits the app would cross with the model bundled."""
        return tuple(c.limit for c in self.checks if c.limit.bundled and c.crosses)

    @property
    def download_on_first_run(self) -> bool:
        """Whether bundling the model would cross an install-download limit."""
        return bool(self.crossed_if_bundled)

    def verdict(self) -> str:
        """Return "bundle in the app" or "download on first run (bundled, the app would cross: ...)"."""
        if not self.download_on_first_run:
            return "bundle in the app"
        return ("download on first run (bundled, the app would cross: "
                + ", ".join(limit.label for limit in self.crossed_if_bundled) + ")")


def check_delivery(model: str, variant: str, fmt: str, model_bytes: int, app_base_bytes: int = 0,
                   compressed: bool = True) -> Delivery:
    """Return a model's delivery against STORE_LIMITS of the stores that ship `fmt`.

    `model_bytes` is its compressed size inside an APK / IPA (`compressed` False: its file size,
    when no compressed size was recorded); bundled limits count `app_base_bytes` too.
    """
    model_format = format_named(fmt)
    platforms = model_format.app_platforms if model_format is not None else frozenset()
    checks = tuple(
        LimitCheck(limit, model_bytes + (app_base_bytes if limit.bundled else 0))
        for limit in STORE_LIMITS if STORE_PLATFORMS[limit.store] in platforms
    )
    return Delivery(model, variant, fmt, model_bytes, compressed, app_base_bytes, checks)
