"""A style projection learned by self-supervision on this machine, judged on sets it never saw
(issue 17's last lever).

Views: random crops (side 0.3-0.6 of the short side, 256 px, flat crops drawn again, as the
artwork sets cut them) of pictures from packages that no evaluation set draws on (openclipart's
clip art and Krita's brushes and patterns, listed in the AdaIN training data's sources.csv; never
gcompris-qt-data). Crops of one picture are the same style. The views are indexed like any
folder (size 256), and their stored Gram sketches g (centred on the collection, unit length)
train a linear map W (initialised to the identity) with the supervised contrastive loss
(Khosla et al. 2020, eq. 2) over the normalised projections z = Wg / |Wg|:

    L = mean_i  -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / tau) / sum_{a != i} exp(z_i.z_a / tau) )

plus mu |W - I|_F^2. A fifth of the pictures is held back to choose the number of epochs (by
their mAP@10), never an evaluation set. Alongside: the Gram sketch whitened on the views'
collection (PCA, eigenvalues raised to -1/4, i.e. covariance^(alpha) with alpha = 0.5 as in
sweep_style_levers.py, but fitted elsewhere). Each evaluation set's stored Gram vectors are then
mapped and scored alone and fused as ``--by style`` fuses them (0.7 gram + 0.3 colour, content
discount, near-duplicate rule).

    python scripts/probe_projection.py [--sets ...] [--work DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval_retrieval import log  # noqa: E402
from fit_whitening import reference_views, unwhitened_sketches  # noqa: E402
from sweep_fusion_sets import set_similarities  # noqa: E402
from sweep_style_levers import COMPONENTS, style_map, weighted  # noqa: E402

from stylesim.descriptors.whitening import Whitening, fit_whitening  # noqa: E402
from stylesim.evaluation.harness import Labelled  # noqa: E402
from stylesim.index.store import IndexStore  # noqa: E402

SETS = "grid,grid-unseen,textures,textures-recoloured,icons,fonts,wallpapers,artwork"
GRAM_WEIGHTS = (0.6, 0.7, 0.8, 0.9)
UNSEEN = {"artwork"}  # never used to choose a default: reported only
Mapping = Callable[[np.ndarray], np.ndarray]


def view_vectors(work: Path, crops: int) -> tuple[np.ndarray, np.ndarray]:
    """(unwhitened Gram sketches as an index stores them, picture number) of the views."""
    files, pictures = reference_views(work, crops)
    return unwhitened_sketches(files).astype(np.float32), pictures


def supcon_loss(z: torch.Tensor, groups: torch.Tensor, tau: float) -> torch.Tensor:
    """The supervised contrastive loss (module docstring) of unit rows ``z``."""
    logits = z @ z.T / tau
    eye = torch.eye(len(z), dtype=torch.bool)
    logits = logits.masked_fill(eye, -1e9)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (groups[:, None] == groups[None, :]) & ~eye
    return -((log_prob * positive).sum(1) / positive.sum(1).clamp_min(1)).mean()


def group_map(vectors: np.ndarray, groups: np.ndarray) -> float:
    """mAP@10 of crops finding their siblings (every view a query)."""
    styles = np.array([str(g) for g in groups], dtype=object)
    labels = Labelled([str(i) for i in range(len(groups))], styles, np.full(len(groups), "", dtype=object))
    return style_map(vectors @ vectors.T, labels)


def train_projection(
    vectors: np.ndarray, groups: np.ndarray, epochs: int, tau: float, mu: float
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """W trained on four fifths of the pictures; returns W at the epoch best on the rest."""
    held = np.isin(groups, np.unique(groups)[::5])
    x, g = torch.from_numpy(vectors[~held]), torch.from_numpy(groups[~held])
    w = torch.eye(vectors.shape[1], requires_grad=True)
    optimiser = torch.optim.Adam([w], lr=1e-3)
    best, best_w, curve = -1.0, w.detach().clone(), []
    for epoch in range(epochs + 1):
        if epoch % 10 == 0:
            score = group_map(unit(vectors[held] @ w.detach().numpy()), groups[held])
            curve.append({"epoch": epoch, "held-back mAP@10": round(score, 4)})
            log(f"epoch {epoch}: held-back pictures mAP@10 {score:.3f}")
            if score > best:
                best, best_w = score, w.detach().clone()
        perm = torch.randperm(len(x))[:1024]
        z = torch.nn.functional.normalize(x[perm] @ w, dim=1)
        loss = supcon_loss(z, g[perm], tau) + mu * ((w - torch.eye(len(w))) ** 2).sum()
        optimiser.zero_grad()
        torch.autograd.backward(loss)
        optimiser.step()
    return best_w.numpy(), curve


def unit(z: np.ndarray) -> np.ndarray:
    return np.asarray(z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12))


def set_gram_vectors(name: str, work: Path, paths: list[str]) -> np.ndarray:
    store = IndexStore.open(work / f"{name}-index")
    if getattr(store.descriptors["gram"], "whitening", ""):
        raise SystemExit(
            f"{work / name}-index: built with a whitened gram; rebuild it with the whitening off"
        )
    by_path = {p: i for i, p in zip(store.items.index, store.items["path"], strict=True)}
    return store.vectors_of("gram", np.array([by_path[p] for p in paths])).astype(np.float32)


def scores_with(maps: dict[str, Mapping | None], sets: list[str], work: Path) -> dict[str, list[float]]:
    """Per map: gram alone and fused (gram weight GRAM_WEIGHTS, the rest colour) mAP@10 per set."""
    table: dict[str, list[float]] = {}
    for name in sets:
        found = set_similarities(name, work, 256)
        if found is None:
            continue
        sims, labels = found
        raw = set_gram_vectors(name, work, labels.paths)
        for label, mapping in maps.items():
            z = raw if mapping is None else unit(mapping(raw))
            mapped = {**sims, "gram": sims["gram"] if mapping is None else z @ z.T}
            table.setdefault(f"{label}: gram alone", []).append(style_map(mapped["gram"], labels))
            for g in GRAM_WEIGHTS:
                fused = weighted(mapped, (g, 0.0, round(1 - g, 2)))
                table.setdefault(f"{label}: {g:g} gram + {1 - g:.1g} colour", []).append(
                    style_map(fused, labels)
                )
        log(f"{name} done")
    return table


def whitened_by(whitening: Whitening) -> Mapping:
    return lambda v: whitening.apply(torch.from_numpy(v)).numpy()


def variants(
    vectors: np.ndarray, groups: np.ndarray, args: argparse.Namespace
) -> tuple[dict[str, Mapping | None], list[dict[str, float]]]:
    """The maps compared: none, whitenings fitted on the views, the learned projection."""
    w, curve = train_projection(vectors, groups, args.epochs, args.tau, args.mu)
    maps: dict[str, Mapping | None] = {"stored (no map)": None}
    for alpha in (0.0, 0.1, 0.25, 0.5, 0.75):
        maps[f"whitened, alpha {alpha:g}, rank 128"] = whitened_by(fit_whitening(vectors, alpha, 128, {}))
    maps["whitened, alpha 0.5, every direction"] = whitened_by(fit_whitening(vectors, 0.5, 2048, {}))
    maps["learned (supervised contrastive)"] = lambda v: v @ w
    return maps, curve


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default=SETS)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/stylesim-sets"))
    parser.add_argument("--crops", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--tau", type=float, default=0.1)
    parser.add_argument("--mu", type=float, default=1e-3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    vectors, groups = view_vectors(args.work, args.crops)
    assert COMPONENTS == ("gram", "adain", "colour")
    maps, curve = variants(vectors, groups, args)
    sets = args.sets.split(",")
    table = scores_with(maps, sets, args.work)
    tuning = [i for i, name in enumerate(sets) if name not in UNSEEN]
    print(f"variant | mean | worst (the sets defaults are chosen on) | {' | '.join(sets)}")
    for label, scores in table.items():
        cells = " | ".join(f"{v:.3f}" for v in scores)
        chosen_on = [scores[i] for i in tuning]
        print(f"{label} | {np.mean(chosen_on):.3f} | {min(chosen_on):.3f} | {cells}")
    if args.json:
        report = {"sets": sets, "views": len(groups), "settings": vars(args) | {"work": str(args.work)}}
        report |= {"training curve": curve, "mAP@10": table}
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
