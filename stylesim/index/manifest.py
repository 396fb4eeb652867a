"""The manifest: the single record of how an index's vectors were made. A query rebuilds its
extractor from it, and a writer with other settings is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylesim.errors import ManifestMismatchError, StylesimError
from stylesim.index.policy import LEGACY_STYLE_FUSION, STYLE_FUSION

if TYPE_CHECKING:
    from stylesim.descriptors.base import Descriptor
    from stylesim.encoding.weights import WeightSource

FORMAT_VERSION = 2  # 2: segments (stylesim 0.2); 1: a FAISS file per descriptor (upgraded in place)
MANIFEST = "manifest.json"
Manifest = dict[str, Any]  # the manifest's JSON


def build_manifest(
    weights: WeightSource,
    image_size: int,
    descriptors: dict[str, Descriptor],
    network_input: str,
    precision: str = "fp32",
    style_fusion: dict[str, float] | None = None,
) -> Manifest:
    """Everything that decides the vectors (not where or when they were made), in its JSON
    form so that it compares equal to a manifest read back from disk; ``precision`` is the one
    the index was created in and ``style_fusion`` the ``--by style`` weights it keeps (both
    recorded, not compared: see ``NOT_COMPARED``)."""
    manifest: Manifest = json.loads(
        json.dumps(
            {
                "format_version": FORMAT_VERSION,
                "model": "vgg19",
                "weights": weights.describe(),
                "preprocessing": weights.preprocessing.as_dict(),
                "network_input": network_input,
                "precision": precision,
                "image_size": image_size,
                "layers": sorted({layer for d in descriptors.values() for layer in d.layers}),
                "descriptors": {name: d.config() for name, d in descriptors.items()},
                "style_fusion": STYLE_FUSION if style_fusion is None else style_fusion,
            }
        )
    )
    return manifest


# Recorded but not a reason to refuse a run: indexes built with the network in bf16 and in fp32
# retrieve within 0.01 mAP@10 of each other on every evaluation set, with top-10 overlaps near 1
# (docs/performance.md), so runs on machines that choose differently may add to one index.
# ``style_fusion``: an index keeps the weights it was made with (its stacked style vectors and
# relative vectors are built with them); a run whose defaults changed adds to it under those.
NOT_COMPARED = frozenset({"precision", "style_fusion"})


def differences(existing: Manifest, wanted: Manifest, prefix: str = "") -> list[str]:
    """Human-readable list of settings that differ between two manifests."""
    out: list[str] = []
    for key in sorted((set(existing) | set(wanted)) - (NOT_COMPARED if not prefix else set())):
        a, b = existing.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key}: index has {a!r}, this run asks for {b!r}")
    return out


def check_compatible(existing: Manifest, wanted: Manifest, root: Path) -> None:
    """Raise ManifestMismatchError naming every differing setting."""
    diff = differences(existing, wanted)
    if diff:
        raise ManifestMismatchError(
            f"{root}: index was built with other settings; refusing to mix vectors ("
            + "; ".join(diff)
            + "). Use another --index, or delete this one to rebuild it."
        )


def read_manifest(root: Path, allow_legacy: bool = False) -> Manifest:
    path = root / MANIFEST
    try:
        manifest: Manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise StylesimError(
            f"{root}: no index here (missing {MANIFEST}); "
            f"build one with 'stylesim index FOLDER --index {root}'"
        ) from None
    except (OSError, ValueError) as err:
        raise StylesimError(f"{path}: unreadable manifest ({err})") from None
    version = manifest.get("format_version")
    if version == 1 and not allow_legacy:
        raise ManifestMismatchError(
            f"{root}: this index was made by stylesim 0.1 (format 1); upgrade it in place "
            f"(nothing is re-encoded): stylesim compact --index {root}"
        )
    if version != FORMAT_VERSION and not (version == 1 and allow_legacy):
        raise ManifestMismatchError(
            f"{path}: index format version {version!r}; this stylesim reads version {FORMAT_VERSION}"
        )
    return without_legacy_settings(manifest)


def without_legacy_settings(manifest: Manifest) -> Manifest:
    """A manifest as this version writes it, so indexes made before stay compatible: settings
    that could take only one value and are no longer recorded (each descriptor's ``codec``,
    always "fp16") are dropped, and settings recorded since are filled in with the one value
    they had (``style_fusion``: LEGACY_STYLE_FUSION; the gram descriptor's ``whitening``: none;
    the colour descriptor's ``background``: "all")."""
    for config in manifest.get("descriptors", {}).values():
        if config.get("codec", "fp16") == "fp16":
            config.pop("codec", None)
    if "gram" in manifest.get("descriptors", {}):
        manifest["descriptors"]["gram"].setdefault("whitening", "")
    if "colour" in manifest.get("descriptors", {}):
        manifest["descriptors"]["colour"].setdefault("background", "all")
    manifest.setdefault("style_fusion", dict(LEGACY_STYLE_FUSION))
    return manifest
