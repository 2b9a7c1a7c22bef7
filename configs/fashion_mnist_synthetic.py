"""Fashion-MNIST from 100 labels through synthetic data (ganjax/latent/synthetic_pipeline.py).

  python -m experiments.train --config=configs/fashion_mnist_synthetic.py --workdir=runs/fm_syn
  python -m experiments.train --config=configs/fashion_mnist_synthetic.py:pair \
      --workdir=runs/fm_syn_pair          # shirt (6) vs T-shirt (0), 50 labels per side
  python -m experiments.train --config=configs/fashion_mnist_synthetic.py:footwear \
      --workdir=runs/fm_syn_footwear      # sandal/sneaker/ankle boot (5, 7, 9) vs the rest

Default: 10 labeled images per class (100 labels), class vectors, 40,000 synthetic images, the
domain classifier's network trained on them and scored on the real test split. The generative
model is configs/fashion_mnist_vaegan.py. Arguments: configs/synthetic_common.py, plus pair,
footwear.
"""

from configs import classifier_common, fashion_mnist_vaegan, synthetic_common


def get_config(arg=None):
    args = synthetic_common.parse(arg, ("pair", "footwear"))
    gen_arg = ",".join(k for k in ("tiny",) if args.get(k))
    attribute, num_labeled = "classes", 10
    if args.get("pair"):
        attribute, num_labeled = "class=6:0", 50
    elif args.get("footwear"):
        attribute, num_labeled = "class=5,7,9", 50
    return synthetic_common.get_synthetic_config(
        "fashion_mnist",
        args,
        generative=fashion_mnist_vaegan.get_config(gen_arg),
        classifier=classifier_common.get_classifier_config("fashion_mnist", gen_arg or None),
        attribute=attribute,
        num_labeled=num_labeled,
    )
