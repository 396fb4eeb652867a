"""Video indexing speed on this machine: frames decoded per second, frames encoded per second,
and whether decoding overlaps the model (end-to-end time vs decode-only + model-only).

    python scripts/bench_video.py [--seconds 60] [--width 640] [--every 0.5s] [--size 256]

Builds a test video from real photos (scripts/sample_videos.py: 5 s shots, still, zooming and
panning, H.264 at 25 fps), then times (1) sampling alone, (2) the model alone on the sampled
frames, (3) `stylesim index` end to end on the video (sampling in a thread, model in the main
thread). Prints a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_videos import Shot, write_video  # noqa: E402

from stylesim import api  # noqa: E402
from stylesim.collection.timecode import parse_seconds  # noqa: E402
from stylesim.collection.video import SampleReport, Sampling, sample_video  # noqa: E402
from stylesim.descriptors import build_descriptors  # noqa: E402
from stylesim.descriptors.extract import DescriptorExtractor  # noqa: E402
from stylesim.encoding import VGG19Encoder, default_batch_size, resolve_device, resolve_weights  # noqa: E402
from stylesim.evaluation.sets.grid import PHOTOS, load_photo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--every", default=None, help="sample every T instead of by scenes")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="stylesim-bench-video-"))
    try:
        height = args.width * 9 // 16 // 2 * 2
        motions = ("static", "zoom", "pan")
        shots = [
            Shot(load_photo(PHOTOS[i % len(PHOTOS)], args.width * 2), 5, motions[i % 3])
            for i in range(max(1, args.seconds // 5))
        ]
        video = work / "bench.mp4"
        t0 = time.perf_counter()
        write_video(video, shots, args.fps, args.width, height)
        print(
            f"built {video.name}: {len(shots)} shots, {args.width}x{height} @ {args.fps} fps "
            f"in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        sampling = Sampling("every", parse_seconds(args.every)) if args.every else Sampling()

        report = SampleReport()
        t0 = time.perf_counter()
        frames = [f.pixels for f in sample_video(str(video), sampling, args.size, report)]
        t_sample = time.perf_counter() - t0

        device = resolve_device(args.device)
        descriptors = build_descriptors()
        layers = tuple(sorted({layer for d in descriptors.values() for layer in d.layers}))
        extractor = DescriptorExtractor(VGG19Encoder(resolve_weights(), layers, device), descriptors)
        batch = default_batch_size(device)
        extractor(np.stack(frames[:batch]))  # warm-up
        t0 = time.perf_counter()
        for start in range(0, len(frames), batch):
            extractor(np.stack(frames[start : start + batch]))
        t_model = time.perf_counter() - t0

        t0 = time.perf_counter()
        result = api.build_index(
            [video], work / "index", size=args.size, device=args.device, sampling=sampling
        )
        t_total = time.perf_counter() - t0
        assert result.frames == len(frames), (result.frames, len(frames))

        print("| stage | time (s) | rate |\n| --- | --- | --- |")
        print(
            f"| sampling only ({sampling.spec()}) | {t_sample:.1f} | "
            f"{report.decoded / t_sample:.0f} frames decoded/s, {len(frames)} kept |"
        )
        print(
            f"| model only ({len(frames)} frames, {args.size}², batch {batch}) | {t_model:.1f} | "
            f"{len(frames) / t_model:.1f} frames/s |"
        )
        print(
            f"| `index` end to end | {t_total:.1f} | {report.decoded / t_total:.0f} video frames/s "
            f"({len(frames) / t_total:.1f} encoded/s) |"
        )
        print(f"| overlap: (sampling + model) / end to end | | {(t_sample + t_model) / t_total:.2f}x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
