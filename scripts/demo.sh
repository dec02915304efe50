#!/bin/sh
# Demo: lift the 2D keypoints in demo_input/ to 3D and draw them into demo_output/.
#
#     cd scripts && sh demo.sh
#
#     cd scripts && sh demo.sh --pretrain ../output/quickstart/model_best.pth.tar
#
# Nothing is trained.  Arguments are passed on to inference.py (e.g. --pretrain CKPT
# [--cfg CFG], --gif-fps N, --verbose).  The model is chosen by one rule
# (lib/inference/model_choice.py, the same for scripts/inference.py and
# tools/eval_lsp.py), and named when it starts: --pretrain if given, else the authors'
# ../models/tmc_klbone.pth.tar if present, else the small model shipped in
# demo_model/demo.pth.tar.  Set PYTHON to choose the interpreter.
set -e
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"

# The authors' reference figures, when ../shared is beside the repository: contact_sheet.png
# puts each of their N_out.jpg next to ours.
REF=../../shared/original/scripts/demo_output
if [ -d "$REF" ]; then set -- --reference "$REF" "$@"; fi

# The run writes into a new folder; the earlier demo_output is replaced only by a run that
# succeeded (exit 0).  A run with failed inputs keeps the earlier results and leaves its own
# (the inputs that did lift) in demo_output.new; without earlier results they become demo_output.
NEW=demo_output.new
rm -rf "$NEW" demo_output.old         # this script's own folders, left by an interrupted demo
rc=0
"$PYTHON" inference.py --indir demo_input --outdir "$NEW" "$@" || rc=$?
if [ -d "$NEW" ]; then
    if [ "$rc" -eq 0 ] || [ ! -e demo_output ]; then
        if [ -e demo_output ]; then mv demo_output demo_output.old; fi
        mv "$NEW" demo_output
        rm -rf demo_output.old
        echo "results in $(pwd)/demo_output"
    else
        echo "demo_output kept as it was; this run's results are in $(pwd)/$NEW" >&2
    fi
fi
exit "$rc"
