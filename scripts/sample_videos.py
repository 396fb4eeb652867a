"""Build small real videos from real photos (scikit-image's bundled data) with PyAV: shots of
a photo held still, slowly zoomed or panned, cut one after the other. Used by the README quick
start (sample collection) and by the tests; nothing is downloaded.

    python scripts/sample_videos.py OUT_DIR [--fps 10] [--width 192]

writes OUT_DIR/scenes.mp4 (astronaut 2 s | chelsea 2 s | coffee zoom 3 s),
OUT_DIR/static.mp4 (rocket held for 12 s) and OUT_DIR/portrait.mp4 (a 3 s pan over the
camera man, portrait, stored sideways with a 90-degree display rotation as phones do).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stylesim.evaluation.sets.grid import load_photo


@dataclass
class Shot:
    photo: np.ndarray  # uint8 RGB
    seconds: float
    motion: str = "static"  # static | zoom (in, to 1.6x) | pan (left to right over the middle)


def shot_frames(shot: Shot, fps: int, width: int, height: int) -> list[np.ndarray]:
    """The shot's frames at ``width`` x ``height``."""
    n = max(1, round(shot.seconds * fps))
    src = Image.fromarray(shot.photo)
    sw, sh = src.size
    frames = []
    for i in range(n):
        progress = i / max(1, n - 1)
        if shot.motion == "zoom":
            z = 1.0 + 0.6 * progress
            cw, ch = sw / z, sh / z
            box = ((sw - cw) / 2, (sh - ch) / 2, (sw + cw) / 2, (sh + ch) / 2)
        elif shot.motion == "pan":
            cw = sw * 0.7
            x0 = (sw - cw) * progress
            box = (x0, 0, x0 + cw, sh)
        else:
            box = (0, 0, sw, sh)
        frames.append(np.asarray(src.resize((width, height), Image.Resampling.BILINEAR, box=box)))
    return frames


def write_timed_video(
    path: Path, pictures: list[np.ndarray], times_ms: list[int], rotation: int = 0, faststart: bool = True
) -> None:
    """Encode ``pictures`` (equal-sized uint8 RGB) as H.264 shown at ``times_ms`` (any spacing:
    variable frame rates are allowed). ``rotation`` stores the pictures turned clockwise by that
    angle and records a display rotation that turns them back (what phone cameras do)."""
    import av

    height, width = pictures[0].shape[:2]
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        gaps = np.diff(times_ms) if len(times_ms) > 1 else [1000]
        stream = out.add_stream("libx264", rate=Fraction(1000, int(np.median(gaps))))
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)  # millisecond timestamps
        stream.width, stream.height = (height, width) if rotation % 180 else (width, height)
        stream.pix_fmt = "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for picture, t in zip(pictures, times_ms, strict=True):
            stored = np.ascontiguousarray(np.rot90(picture, -(rotation // 90))) if rotation else picture
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts, frame.time_base = int(t), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_video(
    path: Path,
    shots: list[Shot],
    fps: int = 10,
    width: int = 192,
    height: int = 144,
    rotation: int = 0,
    faststart: bool = True,
) -> list[float]:
    """``shots`` cut one after the other at a constant ``fps``; returns each shot's start (s)."""
    starts: list[float] = []
    pictures: list[np.ndarray] = []
    for shot in shots:
        starts.append(len(pictures) / fps)
        pictures += shot_frames(shot, fps, width, height)
    write_timed_video(
        path, pictures, [round(1000 * i / fps) for i in range(len(pictures))], rotation, faststart
    )
    return starts


def build_clips(out: Path, fps: int = 10, width: int = 192) -> dict[str, list[float]]:
    """The three sample clips; returns their shot start times."""
    out.mkdir(parents=True, exist_ok=True)
    height = width * 3 // 4
    photo = lambda name: load_photo(name, 2 * width)  # noqa: E731
    return {
        "scenes.mp4": write_video(
            out / "scenes.mp4",
            [Shot(photo("astronaut"), 2), Shot(photo("chelsea"), 2), Shot(photo("coffee"), 3, "zoom")],
            fps,
            width,
            height,
        ),
        "static.mp4": write_video(out / "static.mp4", [Shot(photo("rocket"), 12)], fps, width, height),
        "portrait.mp4": write_video(
            out / "portrait.mp4", [Shot(photo("camera"), 3, "pan")], fps, height, width, rotation=90
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--width", type=int, default=192)
    args = parser.parse_args()
    for name, starts in build_clips(args.out, args.fps, args.width).items():
        print(f"{args.out / name}: shots at {', '.join(f'{s:.1f}' for s in starts)} s", file=sys.stderr)


if __name__ == "__main__":
    main()
