"""The colour histogram's weight in ``--by style`` chosen per query from how many colours the
query has (issue 17): a picture in one or two colours (type: black on white) has a histogram
that describes its amount of ink, not its palette.

For each picture, the effective number of colours is exp(H) of its RGB 10-level histogram h
(H = -sum_b h_b ln h_b; 1 for a flat picture, 1 000 for every bin alike). A query q gets

    c(q)  = clip((exp(H_q) - 1) / (E - 1), 0, 1)
    score = (0.7 + 0.3 (1 - c(q))) gram + 0.3 c(q) colour

(the colour weight moved to the Gram matrices as the query's colours fall toward one), then the
content discount and near-duplicate rule of ``--by style``, on the stored cosines of each set's
index (built once under --work as scripts/sweep_style_levers.py does). E = none is today's
fixed 0.7 / 0.3. Mean and worst over --sets; --unseen sets reported only.

The same with c(q) = kappa for a query drawn on a plain canvas (``ops.foreground_mask`` finds
one) and 1 otherwise ("canvas kappa"), the colour being the canvas-balanced histogram
(``descriptors.colour``, today's default): does a drawing's palette matter less than a
picture's?

And with c(q) from how far the two components agree for that query, on the canvas-balanced
colour: "agree A", a(q) = |top10_gram(q) & top10_colour(q)| / 10 and c(q) = clip(a(q) / A, 0, 1);
"corr R", r(q) = Pearson's correlation of the query's gram and colour cosines over the other
items and c(q) = clip(r(q) / R, 0, 1). Where colour ranks by what is shown (icons: the same
icon name in every theme) and the Gram matrices by the look, the two disagree.

    python scripts/probe_colour_richness.py [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweep_colour_levers import pixels_of  # noqa: E402
from sweep_fusion_sets import print_set_table, set_similarities, write_json  # noqa: E402
from sweep_style_levers import finished, style_map  # noqa: E402

from stylesim.descriptors import ops  # noqa: E402
from stylesim.evaluation.harness import Labelled, centred_cosine  # noqa: E402

LEVELS = 10
CHOSEN_ON = "grid,grid-unseen,textures,textures-recoloured,icons,fonts,wallpapers"
REACH = (None, 1.5, 2.0, 3.0)  # E: from how many effective colours the colour weight is whole
CANVAS_KAPPA = (1.0, 0.5, 0.0)  # colour weight factor of a query drawn on a plain canvas
AGREEMENT = (0.2, 0.4, 0.6)  # A and R: the agreement from which the colour weight is whole


def effective_colours(path: str) -> float:
    """exp of the entropy of the picture's joint RGB histogram (LEVELS per channel)."""
    q = pixels_of(path).astype(np.int64) * LEVELS // 256
    codes = (q[..., 0] * LEVELS + q[..., 1]) * LEVELS + q[..., 2]
    h = np.bincount(codes.ravel(), minlength=LEVELS**3) / codes.size
    h = h[h > 0]
    return float(np.exp(-(h * np.log(h)).sum()))


def set_scores(name: str, work: Path) -> dict[str, float] | None:
    found = set_similarities(name, work, 256)
    if found is None:
        return None
    sims, labels = found
    colours = np.array([effective_colours(p) for p in labels.paths])[:, None]
    out = {"gram": style_map(sims["gram"], labels), "median effective colours": float(np.median(colours))}
    for reach in REACH:
        c = np.ones_like(colours) if reach is None else np.clip((colours - 1) / (reach - 1), 0, 1)
        out[f"E = {reach or 'none'}"] = style_map(with_colour_share(sims, sims["colour"], c), labels)
    return out | canvas_scores(sims, labels)


def with_colour_share(sims: dict[str, np.ndarray], colour: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(0.7 + 0.3 (1 - c)) gram + 0.3 c colour, finished as ``--by style`` finishes it."""
    return finished((0.7 + 0.3 * (1 - c)) * sims["gram"] + 0.3 * c * colour, sims)


def canvas_scores(sims: dict[str, np.ndarray], labels: Labelled) -> dict[str, float]:
    """``--by style`` with the colour weight kappa x 0.3 for queries drawn on a plain canvas, and
    with the colour weight from the components' agreement (``agreement_scores``)."""
    pictures = pictures_of(labels.paths)
    colour = canvas_balanced_colour(pictures)
    drawn = np.array([float(ops.foreground_mask(x).mean()) < 1 for x in pictures])[:, None]
    out = {"share drawn on a canvas": float(drawn.mean())}
    for kappa in CANVAS_KAPPA:
        out[f"canvas {kappa:g}"] = style_map(
            with_colour_share(sims, colour, np.where(drawn, kappa, 1.0)), labels
        )
    return out | agreement_scores(sims, colour, labels)


def pictures_of(paths: list[str]) -> list[torch.Tensor]:
    """Each picture as the (1, H, W, 3) uint8 tensor the colour descriptor reads."""
    return [torch.from_numpy(np.array(pixels_of(p)))[None] for p in paths]


def canvas_balanced_colour(
    pictures: list[torch.Tensor],
    border_share: float = ops.PLAIN_BORDER_SHARE,
    tolerance: int = ops.PLAIN_TOLERANCE,
    flat_from: float | None = ops.FLAT_BORDER_FROM,
) -> np.ndarray:
    """Centred cosines of today's colour descriptor: the RGB 10-level histogram with a plain
    canvas weighing at most what the drawing weighs (``ops.canvas_at_most_foreground``; its
    constants as arguments, ``flat_from`` None for the canvas test before 2026-12-07)."""
    weighted = [
        ops.colour_histogram(x, LEVELS, ops.canvas_at_most_foreground(x, border_share, tolerance, flat_from))
        for x in pictures
    ]
    return centred_cosine(np.stack([h[0].numpy() for h in weighted]))


def agreement_scores(sims: dict[str, np.ndarray], colour: np.ndarray, labels: Labelled) -> dict[str, float]:
    """The colour weight per query from the overlap of the two components' top 10 ("agree A")
    and from the correlation of their cosines ("corr R")."""
    gram = sims["gram"]
    others = ~np.eye(len(gram), dtype=bool)

    def top10(s: np.ndarray) -> np.ndarray:
        return np.argsort(-np.where(others, s, -np.inf), axis=1)[:, :10]

    overlap = np.array([len(set(a) & set(b)) / 10 for a, b in zip(top10(gram), top10(colour), strict=True)])
    corr = np.array(
        [np.corrcoef(g[keep], c[keep])[0, 1] for g, c, keep in zip(gram, colour, others, strict=True)]
    )
    out = {"median agreement": float(np.median(overlap)), "median correlation": float(np.median(corr))}
    for reach in AGREEMENT:
        out[f"agree {reach:g}"] = style_map(
            with_colour_share(sims, colour, np.clip(overlap / reach, 0, 1)[:, None]), labels
        )
        out[f"corr {reach:g}"] = style_map(
            with_colour_share(sims, colour, np.clip(corr / reach, 0, 1)[:, None]), labels
        )
    return out


def set_arguments(description: str) -> tuple[argparse.Namespace, list[str], list[str]]:
    """The command line of a probe over the built-in sets: (arguments, the sets chosen on, the
    sets reported only)."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=description, formatter_class=formatter)
    parser.add_argument("--sets", default=CHOSEN_ON)
    parser.add_argument("--unseen", default="artwork")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/stylesim-sets"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    return args, args.sets.split(","), [s for s in args.unseen.split(",") if s]


def main() -> int:
    args, chosen, unseen = set_arguments(__doc__ or "")
    results = {n: s for n in chosen + unseen if (s := set_scores(n, args.work)) is not None}
    print_set_table(results)
    summarised = ("E =", "canvas ", "agree ", "corr ")
    for column in [c for c in next(iter(results.values())) if c.startswith(summarised)]:
        values = [results[n][column] for n in chosen if n in results]
        print(f"{column}: mean {np.mean(values):.3f}, worst {min(values):.3f} over {', '.join(chosen)}")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
