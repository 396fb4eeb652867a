"""The metadata tables of an index: its items (one row per image or video frame) and the files
it skipped, with their columns and dtypes."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

ITEM_DTYPES: dict[str, str] = {
    "id": "int64",
    "path": "string",
    "kind": "string",  # "image" or "frame" (of a video)
    "size": "int64",
    "mtime_ns": "int64",
    "sha256": "string",
    "width": "int32",
    "height": "int32",
    "video": "string",  # for frames: the video file
    "time": "float64",  # for frames: seconds from the start
    "frame": "Int64",  # for frames: frame number
    "duration": "float64",  # for frames: the video's duration (s)
    "fps": "float64",  # for frames: the video's average frame rate
    "sampling": "string",  # for frames: how the video was sampled (re-sampled when it changes)
}
SKIP_DTYPES: dict[str, str] = {"path": "string", "reason": "string", "size": "Int64", "mtime_ns": "Int64"}


def with_columns_of(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    """``frame`` with exactly these columns and dtypes: columns it lacks (added to the format
    since it was written) are filled with missing values."""
    missing = [column for column in dtypes if column not in frame]
    if missing:
        frame = frame.copy()
        for column in missing:
            empty = pd.Series([None] * len(frame), dtype="object", index=frame.index)
            frame[column] = empty.astype(dtypes[column])  # type: ignore[call-overload]
    if list(frame.columns) != list(dtypes):
        frame = frame[list(dtypes)]
    # compared as dtypes, not names: pandas 3's default "str" columns equal the name "string"
    # but hold NaN, not pd.NA, for a missing value
    wanted = {column: pd.api.types.pandas_dtype(dtype) for column, dtype in dtypes.items()}
    wrong = {column: dtype for column, dtype in wanted.items() if frame[column].dtype != dtype}
    return frame.astype(wrong) if wrong else frame


def empty_frame(dtypes: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
