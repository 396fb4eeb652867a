"""The network fed RGB instead of luminance, for the style descriptors (issue 17): the held-out
painting crops scored the seeds' RGB Gram above today's luminance Gram, so does colour in the
Gram help ``--by style`` once the colour histogram is fused with it?

For every picture of a set (built and indexed once under --work, as scripts/sweep_style_levers.py
does; its index's model, bf16 where the machine runs it), the index's descriptors are computed
twice, the network fed the luminance in all three channels (the default) and fed RGB; cosines
of the vectors centred on the set. Scores: style mAP@10 of gram, adain and coarse from each
input, and of ``--by style`` (the stored colour and content, the index's weights, its content
discount and near-duplicate rule) with the Gram, or the Gram and AdaIN, from RGB.

    python scripts/probe_network_input.py [--sets grid,...,wallpapers,artwork] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probe_foreground import centred_cosines  # noqa: E402
from sweep_fusion_sets import SETS, probe_main, set_similarities  # noqa: E402
from sweep_style_levers import DEFAULT, style_map, weighted  # noqa: E402

from stylesim.api.indexes import make_extractor  # noqa: E402
from stylesim.collection.decode import decode_for_encoding  # noqa: E402
from stylesim.evaluation.harness import Labelled  # noqa: E402
from stylesim.index.store import IndexStore  # noqa: E402

INPUTS = ("luminance", "rgb")


def input_vectors(index: Path, labels: Labelled) -> dict[str, np.ndarray]:
    """``{descriptor:input: (n, dim)}`` for every picture, each input in turn."""
    extractor = make_extractor(IndexStore.open(index).manifest, "cpu", "auto")
    rows: dict[str, list[np.ndarray]] = {}
    for path in labels.paths:
        pixels = torch.as_tensor(decode_for_encoding(path, 256).pixels[None])
        for network_input in INPUTS:
            extractor.network_input = network_input
            for name, vector in extractor(pixels).items():
                rows.setdefault(f"{name}:{network_input}", []).append(vector[0])
    return {k: np.stack(v) for k, v in rows.items()}


def set_scores(name: str, work: Path) -> dict[str, float] | None:
    found = set_similarities(name, work, 256)
    if found is None:
        return None
    sims, labels = found
    vectors = input_vectors(work / f"{name}-index", labels)
    cosines = {k: centred_cosines(v.astype(np.float64)) for k, v in vectors.items()}
    styles = [k for k in cosines if k.split(":")[0] in ("gram", "adain", "coarse")]
    scores = {f"{k} alone": style_map(cosines[k], labels) for k in styles}
    for label, gram, adain in (
        ("--by style, both luminance", "luminance", "luminance"),
        ("--by style, gram from RGB", "rgb", "luminance"),
        ("--by style, gram and adain from RGB", "rgb", "rgb"),
    ):
        fused = {**sims, "gram": cosines[f"gram:{gram}"], "adain": cosines[f"adain:{adain}"]}
        scores[label] = style_map(weighted(fused, DEFAULT), labels)
    return scores


def main() -> int:
    torch.set_num_threads(2)
    return probe_main(__doc__ or "", set_scores, f"{SETS},wallpapers,artwork")


if __name__ == "__main__":
    sys.exit(main())
