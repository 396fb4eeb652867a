"""Gram matrices of lower VGG19 layers beside the stored ones in ``--by style`` (issue 17): an
icon theme's hand (line weight, shading, gloss) might sit in the early layers' statistics that
the stored Gram sketch (relu3_1 + relu4_1, whitened) leaves out. Per set, the sqrt-normalised Gram
vector at relu1_1 or relu2_1 (``ops.gram_vector``, the index's own network input, centred on the
set, uncompressed) takes a share b of the Gram part:

    style = (1 - w) ((1 - b) gram + b lower) + w colour,   w = clip(a, 0.1, 0.5)

scored as the other sweeps (``sweep_colour_agreement.sweep_main``), with and without colour;
each layer alone for reference (relu3_1 + relu4_1 uncompressed and unwhitened too).

    python scripts/probe_gram_layers.py [--sets ...] [--unseen ...] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probe_style_share import shared  # noqa: E402
from sweep_colour_agreement import collection_colour_weight, style_map, sweep_main  # noqa: E402

from stylesim import api  # noqa: E402
from stylesim.collection.decode import decode_for_encoding  # noqa: E402
from stylesim.descriptors.ops import gram_vector  # noqa: E402
from stylesim.evaluation.harness import Labelled, centred_cosine  # noqa: E402
from stylesim.index.store import IndexStore  # noqa: E402

LAYERS = {"relu1_1": ("relu1_1",), "relu2_1": ("relu2_1",), "relu3_1 + relu4_1": ("relu3_1", "relu4_1")}
SHARES = (0.1, 0.2, 0.3)


def set_index(path: str) -> Path:
    """The index ``sweep_fusion_sets.set_similarities`` built for the set holding ``path``
    (``WORK/NAME-index`` beside the set's folder ``WORK/NAME``)."""
    for folder in Path(path).parents:
        if (index := folder.with_name(f"{folder.name}-index")).is_dir():
            return index
    raise SystemExit(f"{path}: no set index beside any folder above it")


@torch.no_grad()
def layer_cosines(paths: list[str]) -> dict[str, np.ndarray]:
    """Centred cosines of each LAYERS entry's Gram vector, as the set's index encodes pictures."""
    extractor = api.make_extractor(IndexStore.open(set_index(paths[0])).manifest, "cpu")
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in LAYERS}
    for path in paths:
        features = extractor.features(decode_for_encoding(path, 256).pixels)
        for name, layers in LAYERS.items():
            vectors[name].append(gram_vector(features, layers).float().cpu().numpy()[0])
    return {name: centred_cosine(np.stack(v)) for name, v in vectors.items()}


def set_rows(sims: dict[str, np.ndarray], labels: Labelled) -> dict[str, float]:
    """Every variant's mAP@10 on one set."""
    lower = layer_cosines(labels.paths)
    sims = {**sims, **lower}
    colour = collection_colour_weight(sims)
    rows = {"today": style_map(sims, labels, colour), "stored Gram alone": style_map(sims, labels, 0.0)}
    rows |= {f"{name} alone": style_map(shared(sims, name, 1.0), labels, 0.0) for name in LAYERS}
    for name in ("relu1_1", "relu2_1"):
        for b in SHARES:
            rows[f"{name} {b:g}"] = style_map(shared(sims, name, b), labels, colour)
            rows[f"{name} {b:g}, no colour"] = style_map(shared(sims, name, b), labels, 0.0)
    return rows


if __name__ == "__main__":
    sys.exit(sweep_main(__doc__ or "", set_rows))
