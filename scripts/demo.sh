#!/usr/bin/env bash
# README quick start #1: install, build the sample collection (12 real photos x 7 looks, 3 short
# videos), index it into indexes/default, search it by style (plain and relative to each photo's
# other versions), by content and by video, and restyle
# a photo in the styles the index finds (contact sheet: out/demo/index.html).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[eval]'
python3 -m stylesim.evaluation.sets.grid samples
python3 scripts/sample_videos.py samples/clips
stylesim index samples --index indexes/default || [ $? -eq 3 ]
stylesim info --index indexes/default
echo "== style of samples/pencil/coffee.jpg (any subject):" >&2
stylesim search samples/pencil/coffee.jpg --by style -k 6 --index indexes/default
echo "== the watercolour look of samples/watercolour/coffee.jpg, against the other versions of each photo (the samples hold 7 of each):" >&2
stylesim search samples/watercolour/coffee.jpg --by style-relative -k 6 --index indexes/default
echo "== content of samples/oil/chelsea.jpg (same subject, any look):" >&2
stylesim search samples/oil/chelsea.jpg --by content -k 6 --index indexes/default
echo "== videos whose frames show samples/photo/chelsea.jpg, with their best moments:" >&2
stylesim search samples/photo/chelsea.jpg --by content --group-by video -k 3 --index indexes/default
python3 scripts/search_picture.py samples/pencil/coffee.jpg --index indexes/default --out docs/search.png  # the README picture: style and content results side by side
echo "== restyle samples/photo/chelsea.jpg in the 2 styles nearest to samples/pencil/coffee.jpg (AdaIN, the shipped decoder; open out/demo/index.html):" >&2
stylesim restyle samples/photo/chelsea.jpg --index indexes/default --style-like samples/pencil/coffee.jpg --top 2 --size 512 --out out/demo
