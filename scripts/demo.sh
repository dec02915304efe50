#!/bin/sh
# Demo: lift the 2D keypoints in demo_input/ to 3D and draw them into demo_output/.
#
#     cd scripts && sh demo.sh
#
# Nothing is trained.  The model is chosen by one rule (lib/utils/model_choice.py,
# the same for scripts/inference.py and tools/eval_lsp.py), and named when it starts:
# the authors' ../models/tmc_klbone.pth.tar if present, else the quick start's
# ../output/quickstart/model_best.pth.tar, else the small model shipped in
# demo_model/quickstart.pth.tar.  Set PYTHON to choose the interpreter.
set -e
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"

# The authors' reference figures, when ../shared is beside the repository: contact_sheet.png
# puts each of their N_out.jpg next to ours.
REF=../../shared/original/scripts/demo_output
if [ -d "$REF" ]; then set -- --reference "$REF"; else set --; fi

rm -rf demo_output
"$PYTHON" inference.py --indir demo_input --outdir demo_output "$@"
