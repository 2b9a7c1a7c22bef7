#!/usr/bin/env bash
# The README's loss/regularizer table: the same DCGAN, the same step budget, seeds 0 and 1, on
# the first 6,000 Fashion-MNIST training images (10 %), each recipe with and without DiffAugment,
# classifier FID/KID/precision/recall at the last step (10,000 samples vs the full train split).
#
#   bash scripts/zoo.sh runs/zoo [steps=1000] [seeds="0 1"]
#
# Resumable: a finished run (results.json) is skipped. Ends with experiments.compare's table.
# Sample grids every 500 steps (the default, once per 46-step epoch of 6,000 images, costs more
# than the training; grids do not change the training, so the numbers are the same).
set -euo pipefail
out=${1:?usage: bash scripts/zoo.sh <out dir> [steps] [seeds]}
steps=${2:-1000}
seeds=${3:-0 1}
py=${PYTHON:-.venv/bin/python}
for loss in ns hinge_sn wgan_gp ns_r1; do
  for da in "" ",da"; do
    for seed in $seeds; do
      name="${loss}${da:+_da}_seed${seed}"
      [[ -f "$out/$name/results.json" ]] && continue
      "$py" -m experiments.train \
        --config="configs/fashion_mnist_dcgan.py:loss=${loss},examples=6000,steps=${steps}${da}" \
        --workdir="$out/$name" --config.seed="$seed" --config.eval.fid_every_steps="$steps" \
        --config.eval.every_steps=500 \
        2>&1 | grep -E "step ${steps}/|FID|fid|Error|error" || true
      [[ -f "$out/$name/results.json" ]] || { echo "FAILED: $name (see $out/$name)"; exit 1; }
    done
  done
done
"$py" -m experiments.compare --runs="$out/*" --out="$out/table.md" \
  --metrics=fid,kid,precision,recall,density,coverage
