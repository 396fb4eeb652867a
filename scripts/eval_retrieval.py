"""Measure style and content retrieval: the built-in benchmark, or your labelled collection.

    python scripts/eval_retrieval.py                       # built-in sets (below), no downloads but apt
    python scripts/eval_retrieval.py FOLDER [LABELS.csv]   # your data: CSV path,style,content
    options: --size 256  --json out.json  --sets grid,textures  --no-uncompressed
             --sweep-compression  --sweep-fusion

Built-in sets (metrics and baselines: stylesim/evaluation/harness.py):
  grid      scikit-image's 12 photos + the 12 nature photos of Debian's mate-backgrounds, each
            in 7 looks rendered by OpenCV / PIL filters (stylesim/evaluation/sets/grid.py): style label =
            look (the unfiltered photos are not style queries: each has its own look), content
            label = photo
  grid-unseen  the same photos in 6 other looks (PIL contour, solarize, pixelate, Gaussian blur;
            OpenCV detailEnhance, colour pencilSketch) that were added after every setting was
            chosen: a check that the defaults carry over to looks they were not tuned on
  textures  GIMP's patterns (Debian gimp-data), 4 random crops each, label = pattern
            (stylesim/evaluation/sets/textures.py): style only
  textures-recoloured  the same crops with random hue and saturation per crop: the pattern
            is the label, the palette is not (a colour histogram cannot solve it)
  icons     10 Debian icon themes x 18 freedesktop icon names, 256 px on white
            (stylesim/evaluation/sets/icons.py): style label = theme, content label = icon name, both
            given by the themes' designers
  fonts     10 short texts typeset in 20 font families from Debian font packages, black on
            white (stylesim/evaluation/sets/fonts.py): style label = family, content label = text
  wallpapers  4 random crops of each of 57 wallpapers (KDE Plasma, UKUI, Lomiri: digital
            paintings, illustrations, photos; stylesim/evaluation/sets/artwork.py), label = the artwork:
            crops of one artwork should find each other, as in a collection of painting crops
  artwork   the same for 29 other designs (Debian desktop themes, GNOME and MATE art, sway):
            vector illustrations and abstract art, never used to choose a setting
  adain     the grid's 12 photos rendered by the project's AdaIN transfer in 8 artworks of the
            artwork set's packages (stylesim/evaluation/sets/adain_looks.py): style label = the
            artwork, content label = the photo; needs an installed decoder ($STYLESIM_ADAIN_DECODER
            or the packaged one), skipped with that reason without one
Debian packages are fetched with `apt-get download` and cached (stylesim/evaluation/sets/debian.py); where
that fails, the set (or the extra photos) is skipped with the reason.

Goals (issue 6): grid style and content mAP@10 >= 0.9 with leakage <= 0.1; textures: --by style
>= 1.2 x the colour histogram.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from stylesim.evaluation.harness import evaluate_collection, render_report
from stylesim.evaluation.sets import SETS as BUILT_IN
from stylesim.evaluation.sets import DataUnavailable
from stylesim.evaluation.sets import build_set as build_built_in

SETS = tuple(BUILT_IN)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_set(name: str, out: Path) -> tuple[Path, set[str]] | None:
    """Folder + unlabelled styles of a set (``stylesim.evaluation.sets``), or None (with the
    reason logged) if unavailable."""
    if name not in SETS:
        raise SystemExit(f"unknown set {name!r}; use {', '.join(SETS)}")
    try:
        built = build_built_in(name, out, log)
    except DataUnavailable as err:
        log(f"{name}: skipped ({err})")
        return None
    return built.folder, set(built.unlabelled_styles)


def check_goals(reports: dict[str, dict]) -> list[str]:
    lines = []
    for name in ("grid", "grid-unseen"):
        if name not in reports:
            continue
        r = reports[name]["results"]
        for mode in ("style", "style-relative", "content"):
            if mode in r:
                m = r[mode][mode if mode == "content" else "style"]
                lines.append(
                    f"{name} --by {mode:<14} mAP@10 {m['mAP@10']:.3f} (goal 0.9), "
                    f"leakage {m['leakage@5']:.3f} (goal 0.1): "
                    f"{'met' if m['mAP@10'] >= 0.9 and m['leakage@5'] <= 0.1 else 'NOT met'}"
                )
    for name in ("textures", "textures-recoloured"):
        if name in reports:
            r = reports[name]["results"]
            colour = r["colour histogram"]["style"]["mAP@10"]
            for mode in ("style", "style-relative"):
                if mode in r:
                    style = r[mode]["style"]["mAP@10"]
                    lines.append(
                        f"{name} --by {mode} mAP@10 {style:.3f} = {style / colour:.2f} x colour histogram "
                        f"{colour:.3f} (goal 1.2x): {'met' if style >= 1.2 * colour else 'NOT met'}"
                    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, help="your collection (default: the built-in sets)")
    parser.add_argument(
        "labels", nargs="?", type=Path, help="CSV path,style,content (default FOLDER/labels.csv)"
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--sets", default=",".join(SETS), help="built-in sets to run")
    parser.add_argument("--json", type=Path, help="also write every report here")
    parser.add_argument(
        "--no-uncompressed",
        action="store_true",
        help="skip the uncompressed-gram row (saves a second encoding pass)",
    )
    parser.add_argument(
        "--sweep-compression", action="store_true", help="gram sketch sizes 256..4096 vs quality and bytes"
    )
    parser.add_argument(
        "--sweep-fusion", action="store_true", help="rank every gram/adain/colour weighting (step 0.1)"
    )
    args = parser.parse_args(argv)
    options = {
        "size": args.size,
        "uncompressed": not args.no_uncompressed,
        "compression": args.sweep_compression,
        "fusion": args.sweep_fusion,
        "log": log,
    }
    reports: dict[str, dict] = {}
    if args.folder is not None:
        reports["yours"] = evaluate_collection(
            args.folder, args.labels or args.folder / "labels.csv", **options
        )
        print(render_report(reports["yours"]))
    else:
        with tempfile.TemporaryDirectory(prefix="stylesim-sets-") as tmp:
            for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
                built = build_set(name, Path(tmp) / name)
                if built is None:
                    continue
                folder, unlabelled = built
                log(f"== {name}")
                reports[name] = evaluate_collection(
                    folder, folder / "labels.csv", unlabelled_styles=unlabelled, **options
                )
                print(f"== {name}\n" + render_report(reports[name]), flush=True)
        goals = check_goals(reports)
        if goals:
            print("== goals\n" + "\n".join(goals))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
