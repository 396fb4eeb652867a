"""Retrieval evaluation of a labelled collection (``stylesim eval``, scripts/eval_retrieval.py).

The collection is indexed into a temporary index through the real pipeline (decode, encode,
collection standardisation, float16 storage); every labelled item then queries all the others.
For every descriptor the index stores (gram, adain, content, colour), the fused ``style``, and
two baselines computed here (``thumbnail``: an 8x8 RGB thumbnail, centred, cosine; ``colour
histogram``: the plain joint RGB histogram, 8 levels per channel, Hellinger-mapped, centred,
cosine), it reports for each label (style, content): P@1, P@5,
mAP@10 (AP truncated at 10), CSD's mAP@10 (mean of P@1..P@10), Recall@10 and leakage@5 (P@5
measured with the other label). Items with an empty label are in the database but do not
query for that label.

Optional: ``gram (uncompressed)`` (the full Gram vector, centred, float32, in memory), a
compression sweep (count sketches of the full vector to 256..4096 dims, float16, centred), and
a sweep of the fusion weights and the content discount.
"""

from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from stylesim import api
from stylesim.collection.decode import decode_for_encoding
from stylesim.descriptors.ops import gram_vector
from stylesim.descriptors.sketch import CountSketch
from stylesim.errors import StylesimError
from stylesim.evaluation.metrics import average_precision_at_k, evaluate_rankings, ranking_from_scores
from stylesim.index.ann import candidates_for
from stylesim.index.expansion import expanded_matrix
from stylesim.index.palette import with_palette_match
from stylesim.index.policy import (
    EXACT_COPY_CONTENT,
    RELATIVE,
    STYLE_CONTENT_DISCOUNT,
    STYLE_EXPANSION_NEIGHBOURS,
    STYLE_EXPANSION_WEIGHT,
    STYLE_FUSION,
)
from stylesim.index.search import (
    content_beyond_typical,
    content_discounted,
    finds_duplicates,
    fusion_weights,
    near_duplicates_first,
    typical_content,
)
from stylesim.index.store import IndexStore

COMPRESSION_DIMS = (256, 512, 1024, 2048, 4096)
DISCOUNTS = (0.0, 0.5, 1.0, 1.5, 2.0)
THUMBNAIL_SIDE = 8
COLOUR_BASELINE = "colour histogram"
UNRULED_STYLE = "style, no near-duplicate rule or expansion"  # the fusion and the discount only


@dataclass
class Labelled:
    paths: list[str]
    styles: np.ndarray  # object array, "" = not a style query
    contents: np.ndarray


def read_labels(
    folder: Path, labels_csv: Path, unlabelled_styles: frozenset[str] | set[str] = frozenset()
) -> Labelled:
    """Rows of ``labels_csv`` (``path,style,content``; paths relative to ``folder``)."""
    if not labels_csv.is_file():
        raise StylesimError(f"{labels_csv}: labels file not found (CSV with columns path,style,content)")
    paths, styles, contents = [], [], []
    with open(labels_csv, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise StylesimError(f"{labels_csv}: needs a header with columns path,style,content")
        for row in reader:
            path = Path(row["path"])
            paths.append(str(path if path.is_absolute() else (folder / path).resolve()))
            style = (row.get("style") or "").strip()
            styles.append("" if style in unlabelled_styles else style)
            contents.append((row.get("content") or "").strip())
    if not paths:
        raise StylesimError(f"{labels_csv}: no rows")
    return Labelled(paths, np.array(styles, dtype=object), np.array(contents, dtype=object))


def stored_similarities(index_dir: Path, paths: list[str]) -> dict[str, np.ndarray]:
    """(n, n) cosine matrices per stored descriptor, rows in ``paths`` order, plus the fused
    ``style`` as ``--by style`` scores it and, beside it, UNRULED_STYLE: the fusion and the
    content discount only (what the sweeps score), without the near-duplicate rule and the
    query expansion."""
    store = IndexStore.open(index_dir)
    by_path = {p: i for i, p in zip(store.items.index, store.items["path"], strict=True)}
    missing = [p for p in paths if p not in by_path]
    if missing:
        raise StylesimError(
            f"{missing[0]}: labelled but not indexed ({len(missing)} such files; see the skipped files)"
        )
    wanted = np.array([by_path[p] for p in paths])
    sims = {}
    for name in store.descriptors:
        v = store.vectors_of(name, wanted).astype(np.float64)
        sims[name] = v @ v.T
    sims["style"] = fused_style(sims, fusion_weights("style", store))
    sims[UNRULED_STYLE] = sims["style"]  # as the sweeps score it: what the last steps change, side by side
    duplicates = finds_duplicates(STYLE_CONTENT_DISCOUNT, store)
    if duplicates:
        sims["style"] = near_duplicates_first(sims["style"], sims)
    sims["style"] = style_expanded(sims["style"], sims)
    if duplicates:  # the query's near-duplicates keep at least their coarse cosine, as in the search
        sims["style"] = near_duplicates_first(sims["style"], sims)
    if "content" in store.descriptors:
        sims[RELATIVE] = relative_similarity(store, wanted)
    return sims


def style_expanded(style: np.ndarray, sims: dict[str, np.ndarray]) -> np.ndarray:
    """``--by style``'s last step on a square score matrix: the query expansion by each row's
    best neighbours (``index.expansion``; exact copies by the content cosine left out) of each
    row's best items as the search re-ranks them for 10 results, when the index has the content
    descriptor the search expands with."""
    if "content" not in sims:
        return style
    copies = sims["content"] >= EXACT_COPY_CONTENT
    depth = candidates_for(10)  # the items the search re-ranks for its first 10 results
    return expanded_matrix(style, copies, STYLE_EXPANSION_NEIGHBOURS, STYLE_EXPANSION_WEIGHT, depth)


def relative_similarity(store: IndexStore, ids: np.ndarray) -> np.ndarray:
    """The ``--by style-relative`` score matrix of the indexed items ``ids`` (the relative
    vectors the index holds, which the search compares)."""
    relative = store.relative_of(ids).astype(np.float64)
    return relative @ relative.T


def fused_style(
    sims: dict[str, np.ndarray],
    weights: dict[str, float] = STYLE_FUSION,
    discount: float = STYLE_CONTENT_DISCOUNT,
    palette: bool = True,
) -> np.ndarray:
    """The ``--by style`` score matrix: weighted cosines with the palette match (``index.palette``;
    none when not ``palette``), then the content discount above each query's typical content
    cosine (the other items of the set as its sample)."""
    present = {n: w for n, w in weights.items() if n in sims}
    fused: np.ndarray = np.sum([w * sims[n] for n, w in present.items()], axis=0)
    if palette:
        fused = with_palette_match(fused, sims, present)
    if not discount or "content" not in sims:
        return fused
    return discounted_by_content(fused, sims["content"], discount)


def discounted_by_content(
    fused: np.ndarray, content: np.ndarray, discount: float = STYLE_CONTENT_DISCOUNT
) -> np.ndarray:
    """``--by style``'s content discount of a score matrix (queries x items, the same items):
    each row's content cosines above its typical level (``index.search.typical_content`` over
    the row, the other items standing in for the collection's sample)."""
    typical = typical_content(content)[:, None]
    return content_discounted(fused, content_beyond_typical(content, typical), discount)


def centred_cosine(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, np.float64)
    v = v - v.mean(axis=0)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    cosines: np.ndarray = v @ v.T
    return cosines


def colour_histogram_similarity(paths: list[str], side: int = 256) -> np.ndarray:
    """Baseline: cosine of centred sqrt RGB histograms (8 x 8 x 8) of the pictures at about
    ``side`` px (the colour descriptor of indexes made before it moved to 10 levels per channel)."""
    from stylesim.descriptors.ops import colour_histogram

    vectors = []
    for p in paths:
        with Image.open(p) as img:
            rgb = img.convert("RGB")
        rgb.thumbnail((side, side), Image.Resampling.BILINEAR)
        vectors.append(colour_histogram(np.array(rgb)).numpy()[0])
    return centred_cosine(np.stack(vectors))


def thumbnail_similarity(paths: list[str], side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """Baseline: cosine of centred side x side RGB thumbnails."""
    vectors = []
    for p in paths:
        with Image.open(p) as img:
            vectors.append(
                np.asarray(img.convert("RGB").resize((side, side), Image.Resampling.BOX), np.float64).ravel()
            )
    return centred_cosine(np.stack(vectors))


def raw_gram_vectors(
    paths: list[str], index_dir: Path, size: int, device: str = "cpu", precision: str = "auto"
) -> np.ndarray:
    """The uncompressed Gram vectors (the gram descriptor's input) of ``paths``."""
    store = IndexStore.open(index_dir)
    extractor = api.make_extractor(store.manifest, device, precision)
    layers = store.descriptors["gram"].layers
    out = []
    for p in paths:
        features = extractor.features(decode_for_encoding(p, size).pixels)  # the index's network input
        out.append(gram_vector(features, layers).cpu().numpy()[0])
    return np.stack(out)


def compression_sweep(
    raw: np.ndarray, labels: Labelled, dims: tuple[int, ...] = COMPRESSION_DIMS, seed: int = 0
) -> list[dict[str, Any]]:
    """Style metrics of the gram vector sketched to each size, stored in float16, centred."""
    x = torch.from_numpy(raw.astype(np.float32))
    rows = []
    for dim in dims:
        sketch = CountSketch(x.shape[1], dim, seed)(x).numpy().astype(np.float16).astype(np.float64)
        metrics = evaluate_rankings(
            ranking_from_scores(centred_cosine(sketch)), labels.styles, labels.contents
        )
        rows.append({"dim": dim, "bytes_per_item": 2 * dim, **metrics})
    metrics = evaluate_rankings(ranking_from_scores(centred_cosine(raw)), labels.styles, labels.contents)
    rows.append({"dim": raw.shape[1], "bytes_per_item": 4 * raw.shape[1], **metrics})
    return rows


def evaluate(sims: dict[str, np.ndarray], labels: Labelled) -> dict[str, dict[str, dict[str, float]]]:
    out = {}
    for name, s in sims.items():
        ranking = ranking_from_scores(s)
        out[name] = {
            "style": evaluate_rankings(ranking, labels.styles, labels.contents),
            "content": evaluate_rankings(ranking, labels.contents, labels.styles),
        }
    return out


def per_label(sims: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """mAP@10 of the queries of each label value."""
    ranking = ranking_from_scores(sims)
    out = {}
    for value in sorted(set(labels) - {""}):
        queries = np.where(labels == value)[0]
        if len(queries) < 2:
            continue
        out[value] = float(
            np.mean(
                [average_precision_at_k(labels[ranking[q]] == value, 10, len(queries) - 1) for q in queries]
            )
        )
    return out


def sweep_fusion(
    sims: dict[str, np.ndarray], labels: Labelled, discounts: tuple[float, ...] = DISCOUNTS
) -> list[tuple[tuple[float, float, float, float], dict[str, float]]]:
    """Style metrics of every weighting w_gram + w_adain + w_colour = 1 on a 0.1 grid, each
    with every content discount in ``discounts``, best first: the plain weighted cosines, without
    the palette match (which is made for ``--by style``'s colour weights, at most 0.5)."""
    out: list[tuple[tuple[float, float, float, float], dict[str, float]]] = []
    for g in range(11):
        for a in range(11 - g):
            w = (g / 10, a / 10, (10 - g - a) / 10)
            for discount in discounts:
                weights = dict(zip(("gram", "adain", "colour"), w, strict=True))
                fused = fused_style(sims, weights, discount, palette=False)
                out.append(
                    (
                        (*w, discount),
                        evaluate_rankings(ranking_from_scores(fused), labels.styles, labels.contents),
                    )
                )
    return sorted(out, key=lambda x: -x[1].get("mAP@10", 0.0))


def discount_rows(
    sims: dict[str, np.ndarray],
    labels: Labelled,
    weights: dict[str, float],
    discounts: tuple[float, ...] = DISCOUNTS,
) -> list[dict[str, Any]]:
    """Style metrics at the weights ``--by style`` uses on the collection, with its palette match,
    by content discount (without the near-duplicate rule, as ``sweep_fusion``)."""
    rows = []
    for discount in discounts:
        ranking = ranking_from_scores(fused_style(sims, weights, discount))
        rows.append({"discount": discount, **evaluate_rankings(ranking, labels.styles, labels.contents)})
    return rows


def evaluate_collection(
    folder: Path,
    labels_csv: Path,
    size: int = 256,
    unlabelled_styles: frozenset[str] | set[str] = frozenset(),
    uncompressed: bool = True,
    compression: bool = False,
    fusion: bool = False,
    device: str = "cpu",
    log: Callable[[str], None] = lambda _: None,
    precision: str = "auto",
) -> dict[str, Any]:
    """Index ``folder`` into a temporary index (the network in ``precision``) and measure it;
    returns a JSON-able report."""
    labels = read_labels(folder, labels_csv, unlabelled_styles)
    report: dict[str, Any] = {
        "folder": str(folder),
        "size": size,
        "precision": precision,
        "n": len(labels.paths),
        "styles": len(set(labels.styles) - {""}),
        "contents": len(set(labels.contents) - {""}),
    }
    with tempfile.TemporaryDirectory(prefix="stylesim-eval-") as tmp:
        index_dir = Path(tmp) / "index"
        start = time.perf_counter()
        built = api.build_index([folder], index_dir, size=size, device=device, precision=precision)
        report["index_seconds"] = round(time.perf_counter() - start, 1)
        report["skipped"] = [{"path": s.path, "reason": s.reason} for s in built.skipped]
        log(f"indexed {built.added} images in {report['index_seconds']} s at size {size}")
        sims = stored_similarities(index_dir, labels.paths)
        store = IndexStore.open(index_dir)
        style_weights_used = fusion_weights("style", store)
        report["style_weights"] = style_weights_used
        report["bytes_per_item"] = {n: d.bytes_per_item for n, d in store.descriptors.items()}
        sims["thumbnail"] = thumbnail_similarity(labels.paths)
        report["bytes_per_item"]["thumbnail"] = 3 * THUMBNAIL_SIDE**2
        sims[COLOUR_BASELINE] = colour_histogram_similarity(labels.paths)
        report["bytes_per_item"][COLOUR_BASELINE] = 2 * 8**3
        raw = (
            raw_gram_vectors(labels.paths, index_dir, size, device, precision)
            if (uncompressed or compression)
            else None
        )
    if raw is not None and uncompressed:
        sims["gram (uncompressed)"] = centred_cosine(raw)
    report["results"] = evaluate(sims, labels)
    report["per_style"] = per_label(sims["style"], labels.styles)
    if RELATIVE in sims:
        report["per_style_relative"] = per_label(sims[RELATIVE], labels.styles)
    report["per_style_colour"] = per_label(sims["colour"], labels.styles)
    if compression and raw is not None:
        report["compression"] = compression_sweep(raw, labels)
    if fusion:
        swept = sweep_fusion(sims, labels)
        report["fusion"] = [
            {"gram": w[0], "adain": w[1], "colour": w[2], "discount": w[3], **m} for w, m in swept[:10]
        ]
        report["discount"] = discount_rows(sims, labels, style_weights_used)
    return report


def render_report(report: dict[str, Any]) -> str:
    """The report as text tables."""
    nan = float("nan")
    lines = [
        f"{report['n']} images, {report['styles']} styles, {report['contents']} contents, "
        f"size {report['size']} ({report['folder']})",
        f"{'descriptor':<22} {'style mAP@10':>12} {'P@1':>5} {'P@5':>5} {'CSD-mAP@10':>10} "
        f"{'R@10':>5} {'leak@5':>7} | "
        f"{'content mAP@10':>14} {'P@1':>5} {'P@5':>5} {'leak@5':>7}",
    ]
    for name, r in report["results"].items():
        s, c = r["style"], r["content"]
        lines.append(
            f"{name:<22} {s.get('mAP@10', nan):>12.3f} {s.get('P@1', nan):>5.2f} {s.get('P@5', nan):>5.2f} "
            f"{s.get('CSD-mAP@10', nan):>10.3f} "
            f"{s.get('Recall@10', nan):>5.2f} {s.get('leakage@5', nan):>7.3f} | "
            f"{c.get('mAP@10', nan):>14.3f} {c.get('P@1', nan):>5.2f} "
            f"{c.get('P@5', nan):>5.2f} {c.get('leakage@5', nan):>7.3f}"
        )
    if report["per_style"] and len(report["per_style"]) <= 12:
        lines.append(
            "style mAP@10 per style (--by style): "
            + ", ".join(f"{k} {v:.2f}" for k, v in report["per_style"].items())
        )
        if report.get("per_style_relative"):
            lines.append(
                f"style mAP@10 per style (--by {RELATIVE}): "
                + ", ".join(f"{k} {v:.2f}" for k, v in report["per_style_relative"].items())
            )
    if "compression" in report:
        lines.append(
            "gram compression (count sketch, float16, centred): dims  bytes/item  style mAP@10  leak@5"
        )
        for row in report["compression"]:
            lines.append(
                f"  {row['dim']:>7}  {row['bytes_per_item']:>9}  "
                f"{row.get('mAP@10', nan):>12.3f}  {row.get('leakage@5', nan):>6.3f}"
            )
    if "fusion" in report:
        lines.append(
            "fusion sweep (style mAP@10, leak@5), best first; --by style here "
            + ", ".join(f"{n} {w:.2f}" for n, w in report.get("style_weights", STYLE_FUSION).items())
            + f", content discount {STYLE_CONTENT_DISCOUNT}"
        )
        for row in report["fusion"]:
            lines.append(
                f"  gram {row['gram']:.1f} adain {row['adain']:.1f} colour {row['colour']:.1f} "
                f"discount {row['discount']:.1f}: "
                f"{row.get('mAP@10', nan):.3f}  {row.get('leakage@5', nan):.3f}"
            )
    if "discount" in report:
        lines.append(
            "content discount at the --by style weights (style mAP@10, leak@5): "
            + ", ".join(
                f"{row['discount']:.1f}: {row.get('mAP@10', nan):.3f} {row.get('leakage@5', nan):.3f}"
                for row in report["discount"]
            )
        )
    return "\n".join(lines) + "\n"
