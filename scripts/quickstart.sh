#!/usr/bin/env bash
# One command for a newcomer: set everything up, then train the default experiment (the MLP GAN
# on real Fashion-MNIST, 100 epochs, a few minutes on 2 CPU cores). Extra arguments go to the
# trainer, e.g. --config.train.num_epochs=10.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
WORKDIR="${WORKDIR:-runs/fashion_mnist_gan}"
echo "== Training configs/fashion_mnist_gan.py into $WORKDIR"
.venv/bin/python -m experiments.train --config=configs/fashion_mnist_gan.py --workdir="$WORKDIR" "$@"
