"""Real images from Debian packages, fetched with `apt-get download` (no root, no install) and
cached, for the evaluation sets:

- `gimp-data`: GIMP's 60-odd seamless patterns (wood, stone, fabric, paper, water…), in GIMP's
  own .pat format (read here; Pillow reads only some of them). GPL-3+ and other free licences
  (debian/copyright, "Files: *").
- `mate-backgrounds`: 12 nature photos (nature/*.jpg). GPL-2+ (debian/copyright).

Cache: $STYLESIM_DATA_CACHE, else ~/.cache/stylesim/debian/<package>/ (the unpacked .deb).
Where apt-get is missing or cannot reach a mirror, ``fetch_package`` raises DataUnavailable with
the reason, and callers skip that set with a clear message.
"""

from __future__ import annotations

import csv
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from stylesim.errors import StylesimError


class DataUnavailable(StylesimError, RuntimeError):
    """A Debian package could not be fetched; the message says why."""


def cache_root() -> Path:
    return Path(os.environ.get("STYLESIM_DATA_CACHE") or Path.home() / ".cache" / "stylesim" / "debian")


def fetch_package(package: str) -> Path:
    """The unpacked contents of ``package`` (downloaded once, then cached)."""
    target = cache_root() / package
    if (target / ".complete").exists():
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise DataUnavailable(f"{package}: apt-get/dpkg-deb not available on this machine")
    with tempfile.TemporaryDirectory(prefix="stylesim-apt-") as tmp:
        try:
            subprocess.run(
                ["apt-get", "download", package],
                cwd=tmp,
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            reason = getattr(err, "stderr", "") or str(err)
            raise DataUnavailable(
                f"{package}: apt-get download failed "
                f"({reason.strip().splitlines()[-1] if reason.strip() else err})"
            ) from None
        debs = list(Path(tmp).glob(f"{package}_*.deb"))
        if not debs:
            raise DataUnavailable(f"{package}: apt-get download produced no .deb")
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        # check=False: the returncode is inspected below, to raise DataUnavailable with dpkg-deb's stderr
        unpack = subprocess.run(
            ["dpkg-deb", "-x", str(debs[0]), str(partial)], capture_output=True, text=True, check=False
        )
        if unpack.returncode != 0:
            raise DataUnavailable(
                f"{package}: dpkg-deb could not unpack {debs[0].name} ({unpack.stderr.strip()})"
            )
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        (target / ".complete").write_text(debs[0].name + "\n")
    return target


def read_gimp_pattern(path: Path) -> Image.Image:
    """A GIMP .pat pattern as RGB: big-endian header (header size, version 1, width, height,
    bytes per pixel 1-4, magic 'GPAT', name), then the raw pixels."""
    data = path.read_bytes()
    header_size, version, width, height, depth = struct.unpack(">5I", data[:20])
    if data[20:24] != b"GPAT" or version != 1 or depth not in (1, 2, 3, 4):
        raise ValueError(f"{path}: not a GIMP pattern (version {version}, {depth} bytes per pixel)")
    pixels = np.frombuffer(data, np.uint8, width * height * depth, header_size).reshape(height, width, depth)
    if depth in (1, 2):
        rgb = np.repeat(pixels[..., :1], 3, axis=2)
    else:
        rgb = pixels[..., :3]
    if depth in (2, 4):  # composite the alpha channel on white
        alpha = pixels[..., -1:].astype(np.float32) / 255.0
        rgb = (rgb * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def gimp_patterns() -> list[tuple[str, str, Image.Image]]:
    """(folder, name, image) of every GIMP pattern."""
    root = fetch_package("gimp-data") / "usr" / "share" / "gimp" / "2.0" / "patterns"
    out = []
    for path in sorted(root.glob("*/*.pat")):
        out.append((path.parent.name, path.stem, read_gimp_pattern(path)))
    return out


def mate_nature_photos() -> list[tuple[str, Path]]:
    """(name, path) of mate-backgrounds' nature photos."""
    root = fetch_package("mate-backgrounds") / "usr" / "share" / "backgrounds" / "mate" / "nature"
    return [(p.stem, p) for p in sorted(root.glob("*.jpg"))]


def write_labels(out: Path, rows: list[tuple[Path, str, str]]) -> None:
    """``out/labels.csv`` (path relative to ``out``, style, content) for (path, style, content) rows."""
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "style", "content"])
        for path, style, content in rows:
            writer.writerow([path.relative_to(out).as_posix(), style, content])


def round_robin(queues: dict[str, Iterator[Path]], count: int, keep: Callable[[Path], bool]) -> list[Path]:
    """Up to ``count`` files that ``keep`` accepts, one from each queue (package) in turn, so a
    selection spreads over every package instead of exhausting the first."""
    chosen: list[Path] = []
    while queues and len(chosen) < count:
        for name in list(queues):
            path = next((p for p in queues[name] if keep(p)), None)
            if path is None:
                del queues[name]
            elif len(chosen) < count:
                chosen.append(path)
    return chosen
