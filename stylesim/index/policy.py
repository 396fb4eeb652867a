"""Search policy: how ``--by style`` fuses the descriptors and discounts the query's own picture,
and how ``--by style-relative`` finds an item's other versions. Every number here was chosen
by measurement (``scripts/eval_retrieval.py --sweep-fusion``; docs/retrieval.md).
"""

from __future__ import annotations

RELATIVE = "style-relative"

# ``--by style``: weighted sum of cosines (weights sum to 1) for new indexes (each index's manifest
# records the weights it was made with). Chosen by ``scripts/sweep_colour_levers.py`` by the mean
# style mAP@10 over every set at once (grids of filter looks, textures, icon themes, typefaces,
# wallpaper crops) with the 10-level colour histogram; colour carries the palette the network
# (luminance input) does not see; AdaIN statistics add nothing there (docs/retrieval.md, "Colour").
STYLE_FUSION: dict[str, float] = {"gram": 0.7, "adain": 0.0, "colour": 0.3}
# the weights of indexes made before manifests recorded them (chosen on the grid alone)
LEGACY_STYLE_FUSION: dict[str, float] = {"gram": 0.5, "adain": 0.2, "colour": 0.3}

# ``--by style`` then discounts items that show the same thing in another look:
#     score(q, x) = s - STYLE_CONTENT_DISCOUNT * c'(q, x) * (1 - s),  s = the fusion above,
#     c' = clip((c - t_q) / (1 - t_q), 0, 1),  c = cos_content(q, x),
#     t_q = median + STYLE_TYPICAL_CONTENT_Z 1.4826 MAD of the query's content cosines to a
#           sample of TYPICAL_CONTENT_SAMPLE items (exact copies, c >= EXACT_COPY_CONTENT, left
#           out; the median and MAD ignore the query's own versions however many they are)
# Same content in the same look (the query itself, duplicates, frames of one shot: s ~ 1) keeps
# its score; the same picture rendered differently (content far above what the query shares
# with unrelated items, low s) drops. Only content similarity above the query's typical level is
# discounted: in a collection whose items all share content cues (icons on one canvas, type) the
# plain cosine discounted every candidate, the same-style ones too. Chosen with
# scripts/sweep_content_discount.py on seven sets, the artwork reported only (docs/retrieval.md):
# mean mAP@10 0.717 -> 0.730, worst set (icons) 0.357 -> 0.410, against the plain cosine at
# lambda 1 (chosen on the grid and the textures in 2026-11); lambda 2 scores 0.733 on the seven
# sets but takes the near-duplicates (copies the near-duplicate rule misses) 0.993 -> 0.980,
# below the colour histogram baseline (0.987), where 1.5 keeps 0.988.
STYLE_CONTENT_DISCOUNT: float = 1.5
STYLE_TYPICAL_CONTENT_Z: float = 4.0
TYPICAL_CONTENT_SAMPLE = 1000
EXACT_COPY_CONTENT = 0.999

# The colour weight of ``--by style`` follows the collection (``index.agreement``): the share of
# an item's STYLE_AGREEMENT_NEIGHBOURS nearest by the Gram matrices that colour also puts there,
# averaged over the sample of TYPICAL_CONTENT_SAMPLE items, corrected for the overlap chance gives
# in a collection of its size, and clipped to this range (the Gram
# matrices take the rest, STYLE_FUSION's other weights scaled). Chosen with
# scripts/sweep_colour_agreement.py on the seven sets, artwork and near-duplicates reported only
# (docs/retrieval.md, "The colour weight follows the collection"): the agreement runs from 0.11
# (icons, where any colour weight costs) to 0.5-0.57 (pattern crops, artwork crops, copies, where
# colour weights up to 0.6 pay); a weight equal to the agreement needs no further constant.
STYLE_AGREEMENT_NEIGHBOURS = 5
STYLE_COLOUR_WEIGHT_RANGE = (0.1, 0.5)

# ``--by style`` adds to the fusion, where the colour cosine c passes PALETTE_MATCH_COSINE, a
# share of what the other components leave (``index.palette``):
#     s = fusion + w_colour PALETTE_MATCH_SHARE clip((c - tau) / (1 - tau), 0, 1) (1 - r)
# r the other components' fused cosine. Crops of one pattern share its palette to the last bin,
# which a colour weight of at most 0.5 could not make count without costing the sets whose
# palettes merely resemble each other. Chosen with scripts/sweep_palette_match.py on the seven
# sets, artwork, near-duplicates and the AdaIN-restyled set reported only (docs/retrieval.md,
# "Palette match"): tau 0.95-0.98 and a share of 0.5-1 form a plateau (mean mAP@10 0.756-0.757
# against 0.750 without; the pattern crops 0.967 -> 0.997-0.999); 0.97 / 0.5 is in its middle.
PALETTE_MATCH_COSINE = 0.97
PALETTE_MATCH_SHARE = 0.5

# ``--by style`` last adds to each candidate's score a share of its scores for the query's best
# neighbours (``index.expansion``, average query expansion):
#     s'(q, x) = (s(q, x) + STYLE_EXPANSION_WEIGHT mean_{j in N(q)} s(j, x)) / (1 + STYLE_EXPANSION_WEIGHT)
# N(q) the STYLE_EXPANSION_NEIGHBOURS items s ranks first for q, exact copies of q left out.
# Chosen with scripts/sweep_query_expansion.py on the seven sets, artwork, near-duplicates and the
# AdaIN-restyled set reported only (docs/retrieval.md, "Query expansion"): k 2-4 and beta 0.3-1
# form a plateau (mean mAP@10 0.747-0.750); 3 / 0.5 has the best mean and loses on no set
# (4 / 1, as good in mean, lifts the icons more but costs the recoloured patterns 0.006).
STYLE_EXPANSION_NEIGHBOURS = 3
STYLE_EXPANSION_WEIGHT = 0.5

# Near-duplicates of the query (resized, recompressed, lightly cropped copies) rank first in
# ``--by style``: an item is one when it shows the query's picture (content cosine >=
# NEAR_DUPLICATE_CONTENT; different photos average 0.16), in its palette (colour cosine >=
# NEAR_DUPLICATE_COLOUR: a recoloured version is not a copy) and its look at 96² (coarse gram
# cosine >= NEAR_DUPLICATE_COARSE: a repainted one is not either); its score is then the coarse
# cosine, undiscounted. Chosen on the near-duplicate set (docs/retrieval.md, "Near-duplicates").
NEAR_DUPLICATE_CONTENT = 0.5
NEAR_DUPLICATE_COLOUR = 0.95
NEAR_DUPLICATE_COARSE = 0.95

# ``--by style-relative``: chosen on the grid and both texture sets (scripts/eval_retrieval.py;
# docs/retrieval.md): z 2.0-3.0 and 8-32 neighbours score within 0.02 of each other; the style
# gate (0.8) keeps duplicates, the item itself and frames of one shot out of its versions.
# Larger collections raise z so that chance neighbours stay rare (``index.relative.collection_z``).
RELATIVE_Z = 2.5
RELATIVE_MAX_STYLE = 0.8
RELATIVE_NEIGHBOURS = 32
RELATIVE_SAMPLE = 1000  # items sampled for the collection's content-cosine statistics
