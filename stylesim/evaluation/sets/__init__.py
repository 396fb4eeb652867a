"""The built-in evaluation sets, built at run time from scikit-image's photos and Debian packages
(fetched with ``apt-get download`` and cached by ``sets.debian``; nothing else is downloaded).
Each module builds one kind, writes ``OUT/labels.csv`` (path, style, content) and documents
what it holds; licences in docs/data.md.

    build_set(name, out, log) -> BuiltSet     (DataUnavailable where apt cannot fetch a package,
                                               or, for adain, no decoder is installed)

Used by ``stylesim eval NAME`` and scripts/eval_retrieval.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stylesim.evaluation.sets.debian import DataUnavailable

SETS: dict[str, str] = {
    "grid": "24 photos x 7 filter looks (style = look, content = photo)",
    "grid-unseen": "the same photos in 6 looks no setting was chosen on",
    "textures": "GIMP pattern crops (style = pattern)",
    "textures-recoloured": "the same crops, hue and saturation randomised per crop",
    "icons": "18 icon names drawn by 10 Debian icon themes (style = theme, content = name)",
    "fonts": "10 texts in 20 Debian font families (style = family, content = text)",
    "wallpapers": "crops of 57 wallpapers (style = the artwork)",
    "artwork": "crops of 29 desktop-theme and GNOME/MATE designs (style = the artwork)",
    "near-duplicates": "12 photos with 5 copies each among their other looks (style = photo)",
    "adain": "the 12 photos restyled by the AdaIN decoder in 8 artworks (style = artwork); needs a decoder",
}
GRID_UNLABELLED_STYLES = frozenset({"photo"})  # each unfiltered photo has its own look: no query


@dataclass(frozen=True)
class BuiltSet:
    folder: Path
    unlabelled_styles: frozenset[str]  # style labels that do not query (``harness.read_labels``)


def build_set(name: str, out: Path, log: Callable[[str], None] = lambda _: None) -> BuiltSet:
    """Write the set ``name`` (one of SETS) into ``out``; ValueError for an unknown name,
    DataUnavailable where a package it needs cannot be fetched (or no AdaIN decoder is installed)."""
    if name not in SETS:
        raise ValueError(f"unknown set {name!r}; built-in sets: {', '.join(SETS)}")
    if name in ("grid", "grid-unseen", "near-duplicates"):
        return build_grid_set(name, out, log)
    if name in ("textures", "textures-recoloured"):
        from stylesim.evaluation.sets.textures import build_textures

        build_textures(out, recoloured=name == "textures-recoloured")
    elif name == "icons":
        from stylesim.evaluation.sets.icons import build_icons

        build_icons(out)
    elif name == "adain":
        from stylesim.evaluation.sets.adain_looks import build_adain_looks

        build_adain_looks(out)
    elif name == "fonts":
        from stylesim.evaluation.sets.fonts import build_fonts

        build_fonts(out)
    else:
        from stylesim.evaluation.sets.artwork import build_artwork

        build_artwork(out, name)
    return BuiltSet(out, frozenset())


def build_grid_set(name: str, out: Path, log: Callable[[str], None]) -> BuiltSet:
    """The photo x look sets: grid, grid-unseen (without Debian's photos where apt cannot fetch
    them, said in ``log``) and near-duplicates."""
    from stylesim.evaluation.sets.grid import (
        LOOKS,
        PHOTOS,
        UNSEEN_LOOKS,
        build_grid,
        build_near_duplicates,
        extra_photos,
    )

    if name == "near-duplicates":
        build_near_duplicates(out, PHOTOS)
        return BuiltSet(out, frozenset())
    try:
        photos = PHOTOS + extra_photos()
    except DataUnavailable as err:
        log(f"{name}: only scikit-image's {len(PHOTOS)} photos ({err})")
        photos = PHOTOS
    build_grid(out, photos, tuple(LOOKS) if name == "grid" else ("photo", *UNSEEN_LOOKS))
    return BuiltSet(out, GRID_UNLABELLED_STYLES)


__all__ = ["SETS", "BuiltSet", "DataUnavailable", "build_set"]
