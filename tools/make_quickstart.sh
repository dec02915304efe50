#!/usr/bin/env bash
# Rebuild the bundled quick-start dataset (datasets/quickstart) from the shared
# CMU-derived BVH clips.  Usage, from anywhere:
#
#     tools/make_quickstart.sh [MOCAP_BVH_DIR] [OUT_DIR]
#
# MOCAP_BVH_DIR defaults to <repo>/../shared/data/mocap_bvh (with salsa/ and
# martial/), OUT_DIR to <repo>/datasets/quickstart.  The clips are grouped into
# pseudo-subjects by symlinks in a temporary source tree:
#     train: salsaA = salsa/01 salsa/03, martialA = martial/04 martial/07
#     test:  salsaB = salsa/12,          martialB = martial/10
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$(cd "${1:-$REPO/../shared/data/mocap_bvh}" && pwd)"
OUT="${2:-$REPO/datasets/quickstart}"
PYTHON="${PYTHON:-python}"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
TREE="$TMP/mocap_bvh_quickstart"        # its name goes into metadata['source']

link() {  # link SUBJECT STYLE CLIP...
    local subject="$1" style="$2"; shift 2
    mkdir -p "$TREE/$subject"
    for clip in "$@"; do
        if [ ! -f "$SRC/$style/$clip.bvh" ]; then
            echo "error: $SRC/$style/$clip.bvh not found: pass the mocap_bvh folder as the first argument" >&2
            exit 2
        fi
        ln -s "$SRC/$style/$clip.bvh" "$TREE/$subject/$clip.bvh"
    done
}

link salsaA salsa 01 03
link martialA martial 04 07
link salsaB salsa 12
link martialB martial 10

"$PYTHON" "$REPO/tools/prepare_data.py" bvh --src "$TREE" --out "$OUT" --name quickstart \
    --fps 50 --camera-subject S9 --min-seconds 2 --test-subjects salsaB martialB
