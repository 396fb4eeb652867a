"""Video files: probe, sample frames (PyAV, which bundles FFmpeg), and extract one frame.

Sampling strategies (``Sampling.mode``):
  scenes     (default) keep a frame when the picture differs from the last kept frame by more
             than ``scene_threshold``; also keep one after ``max_gap`` seconds without a sample
             unless it is a near duplicate of the last kept frame
  every      a frame every ``every`` seconds (the first frame shown at or after each tick)
  keyframes  the codec's key frames only (nothing else is decoded: the fastest)

In every mode a frame whose picture differs from the last kept one by less than
``duplicate_threshold`` is dropped, so a static shot yields one sample however long it is.

Picture difference: mean absolute difference of 32x32 greyscale thumbnails, in [0, 1]
(a hard cut between two photos scores ~0.2; encoder noise on a static shot ~0.005).

Times come from the frames' presentation timestamps (variable frame rate safe); frame numbers
count decoded frames (estimated from the time in ``keyframes`` mode, where most frames are
not decoded). Rotation metadata (display matrix) and non-square pixels are honoured.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from stylesim.collection.decode import resize_to_bucket
from stylesim.collection.geometry import input_shape
from stylesim.collection.timecode import split_frame_reference
from stylesim.collection.walk import file_sha256
from stylesim.errors import DecodeError, StylesimError

if TYPE_CHECKING:
    from fractions import Fraction

    from av import VideoFrame
    from av.container import InputContainer
    from av.video.stream import VideoStream

SCENE_THRESHOLD = 0.08
DUPLICATE_THRESHOLD = 0.02
MAX_GAP_SECONDS = 10.0
_THUMB = 32


@dataclass(frozen=True)
class Sampling:
    mode: str = "scenes"  # scenes | every | keyframes
    every: float = MAX_GAP_SECONDS  # seconds: the tick for "every", the longest gap for "scenes"
    scene_threshold: float = SCENE_THRESHOLD
    duplicate_threshold: float = DUPLICATE_THRESHOLD

    def __post_init__(self) -> None:
        if self.mode not in ("scenes", "every", "keyframes"):
            raise StylesimError(f"unknown sampling mode {self.mode!r}; use scenes, every or keyframes")
        if not self.every > 0:
            raise StylesimError(f"the sampling interval must be positive, got {self.every}")

    def spec(self) -> str:
        """A short text stored with every frame: re-sampling happens when it changes."""
        if self.mode == "keyframes":
            return "keyframes"
        return f"{self.mode}:{self.every:g}s"

    @classmethod
    def from_spec(cls, spec: str) -> Sampling:
        """The sampling that ``spec()`` wrote ``spec`` for (thresholds at their defaults)."""
        mode, _, every = spec.partition(":")
        if spec == "keyframes":
            return cls("keyframes")
        try:
            if mode == "keyframes" or not every.endswith("s"):
                raise ValueError(spec)
            return cls(mode, float(every.removesuffix("s")))
        except ValueError:
            raise StylesimError(f"sampling {spec!r}: not a recorded video sampling") from None


@dataclass
class VideoInfo:
    duration: float  # seconds (0 when the container does not say)
    fps: float  # average frame rate (0 when unknown)
    width: int  # as displayed: after rotation and pixel aspect ratio
    height: int
    rotation: int  # degrees counter-clockwise applied to decoded pictures


@dataclass
class SampledFrame:
    time: float  # seconds from the start of the video
    index: int  # frame number (0-based)
    pixels: np.ndarray  # (H, W, 3) uint8 at the encoder input shape


@dataclass
class SampleReport:
    info: VideoInfo | None = None
    sha256: str = ""
    decoded: int = 0  # frames decoded
    sampled: int = 0  # frames kept
    problem: str | None = None  # why decoding stopped early or frames were lost (None: clean)
    read_until: float = 0.0  # end time of the last packet read (seconds)


def resolve_picture(spec: str, role: str) -> tuple[str, float] | None:
    """Where the picture ``spec`` comes from: None for an existing file, (video, seconds) for a
    frame ``VIDEO@TIME`` of an existing video; StylesimError naming ``spec`` and its ``role``
    (query image, style image ...) otherwise."""
    if os.path.exists(spec):
        if os.path.isdir(spec):
            raise StylesimError(f"{spec}: is a folder, not a {role}")
        return None
    reference = split_frame_reference(spec)
    if reference is None:
        raise StylesimError(f"{spec}: {role} not found")
    if not os.path.isfile(reference[0]):
        raise StylesimError(f"{reference[0]}: video not found ({role} {spec})")
    return reference


def _open(path: str) -> InputContainer:
    import av

    try:
        container = av.open(path, metadata_errors="ignore")
    except av.FFmpegError as err:
        raise DecodeError(path, f"not a readable video ({_reason(err)})") from None
    except OSError as err:
        raise DecodeError(path, f"cannot read ({err.strerror or err})") from None
    if not container.streams.video:
        container.close()
        raise DecodeError(path, "no video stream")
    return container


def _reason(err: Exception) -> str:
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return str(text).strip().rstrip(".")


def _display_size(width: int, height: int, sar: Fraction | None, rotation: int) -> tuple[int, int]:
    if sar and float(sar) > 0 and float(sar) != 1.0:
        width = max(1, round(width * float(sar)))
    if rotation % 180:
        width, height = height, width
    return width, height


def _probe(container: InputContainer, path: str) -> VideoInfo:
    stream = container.streams.video[0]
    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    cc = stream.codec_context
    if not cc.width or not cc.height:
        raise DecodeError(path, "video stream without a picture size")
    return VideoInfo(duration, fps, cc.width, cc.height, 0)


def _rgb(frame: VideoFrame, rotation: int, shape: tuple[int, int]) -> np.ndarray:
    """The frame as displayed: RGB, rotated, resized to ``shape`` = (h, w) as displayed."""
    h, w = shape
    if rotation % 180:
        w, h = h, w
    pixels = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(pixels, k)) if k else pixels


def _rotation(frame: VideoFrame) -> int:
    """The frame's display-matrix rotation, snapped to a multiple of 90 degrees in [0, 360)."""
    return int(round((frame.rotation or 0) / 90.0)) * 90 % 360


def _thumb(frame: VideoFrame) -> np.ndarray:
    grey: np.ndarray = frame.reformat(width=_THUMB, height=_THUMB, format="gray").to_ndarray()
    return grey.astype(np.float32) / 255.0


def picture_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two greyscale thumbnails with values in [0, 1]."""
    return float(np.abs(a - b).mean())


def _decoded_frames(
    container: InputContainer, stream: VideoStream, report: SampleReport, path: str
) -> Iterator[VideoFrame]:
    """Every decodable frame; undecodable packets are skipped and counted (a truncated or
    damaged file still gives its good frames)."""
    import av

    bad = 0
    first_error = ""
    try:
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None:
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                report.read_until = max(report.read_until, end)
            try:
                frames = stream.decode(packet)
            except av.FFmpegError as err:
                bad += 1
                first_error = first_error or _reason(err)
                continue
            yield from frames
    except av.FFmpegError as err:  # demuxing itself failed: nothing more can be read
        report.problem = f"stopped reading ({_reason(err)})"
    if bad:
        lost = f"{bad} damaged packet{'s' if bad > 1 else ''} skipped ({first_error})"
        report.problem = f"{report.problem}; {lost}" if report.problem else lost


def _keeps(sampling: Sampling, change: float, since_last: float) -> bool:
    """Whether a frame that differs by ``change`` from the last kept one, ``since_last``
    seconds after it, is sampled (module docstring)."""
    if sampling.mode in ("every", "keyframes"):
        return change >= sampling.duplicate_threshold
    return change >= sampling.scene_threshold or (
        since_last >= sampling.every and change >= sampling.duplicate_threshold
    )


def _settle_duration(info: VideoInfo, report: SampleReport, last_frame_time: float) -> None:
    """The duration from what was decoded where the container under-reports it (variable frame
    rate), and a problem noted where the data ends well before the stated duration."""
    if info.duration == 0.0 and report.decoded and info.fps:
        info.duration = report.decoded / info.fps
    shown_until = last_frame_time + (1.0 / info.fps if info.fps else 0.0)
    if report.decoded and shown_until > info.duration:
        info.duration = shown_until
    elif report.decoded and info.duration - report.read_until > max(0.5, 3.0 / (info.fps or 1.0)):
        ended = f"data ends at {report.read_until:.2f} s of {info.duration:.2f} s (file truncated?)"
        report.problem = f"{ended}; {report.problem}" if report.problem else ended


def sample_video(path: str, sampling: Sampling, size: int, report: SampleReport) -> Iterator[SampledFrame]:
    """Sample ``path``'s frames at the encoder input shape for ``size``; fills ``report``
    (probe facts, file hash, counts, problems). DecodeError if nothing can be decoded."""
    try:
        report.sha256 = file_sha256(path)
    except OSError as err:
        raise DecodeError(path, f"cannot read ({err.strerror})") from None
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if sampling.mode == "keyframes":
            stream.codec_context.skip_frame = "NONKEY"
        info = report.info = _probe(container, path)
        last_thumb: np.ndarray | None = None
        last_time = -math.inf
        next_tick = 0.0
        shape = (0, 0)  # the encoder input shape, known from the first frame
        last_frame_time = 0.0
        for frame in _decoded_frames(container, stream, report, path):
            index = report.decoded
            report.decoded += 1
            if report.decoded == 1:
                info.rotation = _rotation(frame)
                info.width, info.height = _display_size(
                    frame.width, frame.height, stream.sample_aspect_ratio, info.rotation
                )
                shape = input_shape(info.width, info.height, size)
            stamp: float | None = frame.time  # None when the frame has no timestamp
            t = stamp if stamp is not None else (index / info.fps if info.fps else float(index))
            last_frame_time = max(last_frame_time, t)
            if sampling.mode == "keyframes":
                index = int(round(t * info.fps)) if info.fps else index
            if sampling.mode == "every" and t + 1e-6 < next_tick:
                continue
            thumb = _thumb(frame)
            change = math.inf if last_thumb is None else picture_difference(thumb, last_thumb)
            while sampling.mode == "every" and next_tick <= t + 1e-6:
                next_tick += sampling.every
            if not _keeps(sampling, change, t - last_time):
                continue
            last_thumb, last_time = thumb, t
            report.sampled += 1
            yield SampledFrame(float(t), index, _rgb(frame, info.rotation, shape))
        _settle_duration(info, report, last_frame_time)
        if report.decoded == 0:
            raise DecodeError(path, f"no decodable frames{f' ({report.problem})' if report.problem else ''}")
    finally:
        container.close()


EXACT_INDEX_SECONDS = 120.0  # up to here a frame is found by decoding from the start (exact number)


def _frame_at(
    container: InputContainer, stream: VideoStream, target: float, seek: bool
) -> tuple[VideoFrame, float, int | None] | None:
    """(frame, time, number) of the last frame starting at or before ``target``. With ``seek``,
    decoding starts at the key frame before it and the number is unknown (None); None if the
    seek landed after the target."""
    if seek:
        if stream.time_base is None:
            return None
        container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
    else:
        container.seek(0, stream=stream, backward=True)
    chosen = None
    count = 0
    for frame in _decoded_frames(container, stream, SampleReport(), ""):
        stamp: float | None = frame.time  # None when the frame has no timestamp
        if stamp is None:
            continue
        if stamp > target:
            break
        chosen = (frame, float(stamp), None if seek else count)
        count += 1
    return chosen


def extract_frame(
    path: str, seconds: float, size: int | None = None
) -> tuple[Image.Image, float, int | None]:
    """The picture shown at ``seconds`` (the last frame starting at or before it, so the
    millisecond times printed in results find their frame), its exact time, and its frame
    number: exact within the first EXACT_INDEX_SECONDS (decoded from the start), None further
    on (decoded from the nearest key frame before it). With ``size``, resized to the encoder
    input shape; else full resolution."""
    import av

    if seconds < 0:
        raise StylesimError(f"{path}@{seconds}: time must not be negative")
    container = _open(path)
    try:
        stream = container.streams.video[0]
        info = _probe(container, path)
        if info.duration and seconds > info.duration + 1e-3:
            raise StylesimError(
                f"{path}: {seconds:.3f} s is past the end of the video ({info.duration:.3f} s)"
            )
        target = seconds + 5e-4
        if seconds <= EXACT_INDEX_SECONDS:
            chosen = _frame_at(container, stream, target, seek=False)
        else:
            chosen = _frame_at(container, stream, target, seek=True) or _frame_at(
                container, stream, target, seek=False
            )
        if chosen is None:
            raise DecodeError(path, "no decodable frames")
        frame, chosen_time, chosen_index = chosen
        rotation = _rotation(frame)
        width, height = _display_size(frame.width, frame.height, stream.sample_aspect_ratio, rotation)
        pixels = _rgb(frame, rotation, (height, width))
        if size is not None:
            pixels = resize_to_bucket(Image.fromarray(pixels), size)
        return Image.fromarray(pixels), float(chosen_time), chosen_index
    except av.FFmpegError as err:
        raise DecodeError(path, _reason(err)) from None
    finally:
        container.close()
