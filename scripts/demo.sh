#!/bin/sh
# Demo: lift the 2D keypoints in demo_input/ to 3D and draw them into demo_output/.
#
#     cd scripts && sh demo.sh
#
# Uses the released best model (../models/tmc_klbone.pth.tar with
# ../cfg/h36m_gt_scale.yaml) when it is there.  Otherwise it uses the
# quick-start model ../models/quickstart.pth.tar, training it first on the
# bundled dataset if it does not exist yet (CPU, a few minutes).
# Set PYTHON to choose the interpreter.
set -e
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"

if [ -f ../models/tmc_klbone.pth.tar ]; then
    CFG=../cfg/h36m_gt_scale.yaml
    CKPT=../models/tmc_klbone.pth.tar
else
    CFG=../cfg/quickstart.yaml
    CKPT=../models/quickstart.pth.tar
    if [ -f "$CKPT" ]; then
        echo "../models/tmc_klbone.pth.tar not found: using the quick-start model $CKPT"
    else
        echo "../models/tmc_klbone.pth.tar not found: training the quick-start model into $CKPT first"
        "$PYTHON" ../tools/main.py --cfg "$CFG" --gpu -1 --save-final "$CKPT"
    fi
fi

# The authors' reference figures, when ../shared is beside the repository: contact_sheet.png
# puts each of their N_out.jpg next to ours.
REF=../../shared/original/scripts/demo_output
if [ -d "$REF" ]; then set -- --reference "$REF"; else set --; fi

rm -rf demo_output
"$PYTHON" inference.py --indir demo_input --outdir demo_output --cfg "$CFG" --pretrain "$CKPT" "$@"
