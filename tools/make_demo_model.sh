#!/usr/bin/env bash
# Rebuild the shipped demo model, scripts/demo_model/demo.pth.tar: the recommended recipe
# ("scale after structure", README) trained on all the shared CMU-derived BVH clips.
# Usage, from anywhere:
#
#     tools/make_demo_model.sh [MOCAP_BVH_DIR] [WORK_DIR]
#
# MOCAP_BVH_DIR defaults to <repo>/../shared/data/mocap_bvh (salsa/ and martial/), WORK_DIR to
# <repo>/output/demo_model.  Steps (one thread each, as the benchmark):
#   1. convert the clips (tools/prepare_data.py bvh; martial is named the test split because
#      the converter needs one, and the training below takes both subjects: a demo model needs
#      no held-out data);
#   2. stage 1, the lifter: cfg/bench_adv.yaml for 16 epochs, then resumed to 32 epochs with the
#      bone-proportion term on (cfg/bench_prop.yaml; the benchmark's adv_continued_prop);
#   3. stage 2, the scaler on the frozen lifter: cfg/bench_scale_after.yaml, with the scale prior
#      of the whole training set (computed when the run starts: the converter's file describes
#      the salsa split alone and is removed);
#   4. keep what inference needs (tools/export_model.py).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$(cd "${1:-$REPO/../shared/data/mocap_bvh}" && pwd)"
WORK="${2:-$REPO/output/demo_model}"
PYTHON="${PYTHON:-python}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
ALL=(DATA.DATASET_NAME demo DATA.TRAIN_SUBJECTS "[salsa, martial]" DATA.TEST_SUBJECTS "[martial]")

cd "$REPO"
"$PYTHON" tools/prepare_data.py bvh --src "$SRC" --out "$WORK/data" --name demo --fps 50 \
    --camera-subject S9 --min-seconds 2 --test-subjects martial --force
rm -f "$WORK/data/scale_prior_demo.json"
"$PYTHON" tools/main.py --cfg cfg/bench_adv.yaml --gpu -1 --quiet --force --data_dir "$WORK/data" \
    --model_dir "$WORK" --log_dir "$WORK/log" --opts "${ALL[@]}" TRAIN.NUM_EPOCHS 16
"$PYTHON" tools/main.py --cfg cfg/bench_prop.yaml --gpu -1 --quiet --force --data_dir "$WORK/data" \
    --model_dir "$WORK" --log_dir "$WORK/log" --resume "$WORK/bench_adv/checkpoint.pth.tar" \
    --opts "${ALL[@]}" TRAIN.NUM_EPOCHS 32
"$PYTHON" tools/main.py --cfg cfg/bench_scale_after.yaml --gpu -1 --quiet --force --data_dir "$WORK/data" \
    --model_dir "$WORK" --log_dir "$WORK/log" --pretrain "$WORK/bench_prop/checkpoint.pth.tar" --opts "${ALL[@]}"
"$PYTHON" tools/export_model.py --pretrain "$WORK/bench_scale_after/checkpoint.pth.tar" \
    --out scripts/demo_model/demo.pth.tar --force
