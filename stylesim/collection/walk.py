"""Walk the user's inputs (folders recursively, files as given) and classify every file.

Folders are followed through symbolic links, each real folder once (a link back to an ancestor
cannot loop). Files in folders are taken by extension; files named explicitly are tried
whatever their extension. What cannot be indexed is reported as a ``Skip`` with the reason.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from stylesim.errors import StylesimError

IMAGE_EXTENSIONS = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".gif",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".tga",
        ".ico",
        ".jp2",
        ".j2k",
        ".pcx",
        ".sgi",
        ".avif",
        ".heic",
        ".heif",
    ]
)
VIDEO_EXTENSIONS = frozenset(
    [".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts", ".mts"]
)


@dataclass(frozen=True)
class FileEntry:
    path: str  # absolute, symbolic links not resolved (what the user sees)
    size: int
    mtime_ns: int
    kind: str = "image"  # "image" or "video" (by extension)
    sampled_as: str | None = None  # a changed video: the sampling spec it was indexed with


@dataclass(frozen=True)
class Skip:
    path: str
    reason: str
    size: int | None = None
    mtime_ns: int | None = None


@dataclass
class WalkResult:
    files: list[FileEntry]
    skipped: list[Skip]
    roots: list[str]  # absolute inputs: items under them that were not seen are deleted
    ignored: int  # files in folders with extensions that are neither image nor video


def is_under(path: str, roots: list[str]) -> bool:
    """True if ``path`` is one of ``roots`` or inside one of them (absolute paths)."""
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stat_or_skip(path: str) -> os.stat_result | Skip:
    try:
        return os.stat(path)
    except OSError as err:
        if err.errno == 40:  # ELOOP
            return Skip(path, "symbolic link loop")
        if os.path.islink(path):
            return Skip(path, "broken symbolic link")
        return Skip(path, f"cannot read ({err.strerror})")


def _check_file(path: str, explicit: bool) -> FileEntry | Skip | None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return Skip(
            path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), "file name is not valid UTF-8"
        )
    ext = os.path.splitext(path)[1].lower()
    if not explicit and ext not in IMAGE_EXTENSIONS and ext not in VIDEO_EXTENSIONS:
        return None
    st = _stat_or_skip(path)
    if isinstance(st, Skip):
        return st
    if not stat.S_ISREG(st.st_mode):
        return Skip(path, "not a regular file")
    if not os.access(path, os.R_OK):
        return Skip(path, "permission denied", st.st_size, st.st_mtime_ns)
    if st.st_size == 0:
        return Skip(path, "empty file", 0, st.st_mtime_ns)
    return FileEntry(path, st.st_size, st.st_mtime_ns, "video" if ext in VIDEO_EXTENSIONS else "image")


def walk_inputs(inputs: list[str | Path]) -> WalkResult:
    """Every candidate file under ``inputs``; StylesimError if an input does not exist."""
    files: list[FileEntry] = []
    skipped: list[Skip] = []
    roots: list[str] = []
    ignored = 0
    seen_files: set[str] = set()
    for raw in inputs:
        top = os.path.abspath(os.fspath(raw))
        if not os.path.lexists(top):
            raise StylesimError(f"{raw}: no such file or folder")
        roots.append(top)
        if not os.path.isdir(top):
            result = _check_file(top, explicit=True)
            if result is not None and result.path not in seen_files:
                seen_files.add(result.path)
                _file_or_skip(result, files, skipped)
            continue
        visited: set[tuple[int, int]] = set()
        for folder, dirnames, filenames in os.walk(
            top,
            followlinks=True,
            onerror=lambda e: skipped.append(Skip(e.filename, f"cannot list folder ({e.strerror})")),
        ):
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in visited:
                dirnames[:] = []
                continue
            visited.add((st.st_dev, st.st_ino))
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(folder, name)
                if path in seen_files:
                    continue
                result = _check_file(path, explicit=False)
                if result is None:
                    ignored += 1
                    continue
                seen_files.add(result.path)
                _file_or_skip(result, files, skipped)
    return WalkResult(files, skipped, roots, ignored)


def _file_or_skip(result: FileEntry | Skip, files: list[FileEntry], skipped: list[Skip]) -> None:
    if isinstance(result, FileEntry):
        files.append(result)
    else:
        skipped.append(result)
