"""Domain classifiers: the feature extractors of 'FID with a classifier' (`classifier:<dataset>`).

One small conv net per dataset (ganjax/models/classifier.py), trained with cross-entropy on the
train split and scored on the test split. `get_classifier_config(dataset)` holds the shared
settings; `configs/<dataset>_classifier.py` picks the dataset. Variants: `:tiny` (seconds);
`:transfer` (an MLP head on the dataset classifier's features: the transfer head's example).
"""

import ml_collections

from configs import base

# config.data.name -> the configs/<stem>_classifier.py file that trains its classifier.
CONFIG_STEMS = {
    "mnist": "mnist",
    "fashion_mnist": "fashion_mnist",
    "svhn_cropped": "svhn",
    "cifar10": "cifar10",
    "celeb_a": "celeba",
}


def get_classifier_config(dataset: str, arg=None) -> ml_collections.ConfigDict:
    args = base.parse_arg(arg, allowed=("tiny", "transfer"))
    c = base.get_base_config()
    c.task = "classifier"
    # Not set here: the task and model.name pick the method (ganjax/methods/__init__.py:
    # method_name): classifier (ganjax/methods/classifier.py), or transfer_head for
    # model.name=transfer (ganjax/methods/transfer_head.py).
    c.method = ""
    c.data.name = dataset
    c.data.max_test_examples = 0  # Keep only the first N test examples (0: all).
    # Score on another dataset's test split (e.g. train on name=synthetic, test on the real
    # fashion_mnist); "": data.name's own. test_manual_dir: its folder ("": standard places).
    c.data.test_dataset = ""
    c.data.test_manual_dir = ""
    # Score a binary attribute (ganjax/latent/attributes.py spec, e.g. Male or class=6:0): the test
    # images on either side, labeled 1 (has it) / 0. "": the test split's own labels.
    c.data.test_attribute = ""
    c.model.name = "conv_classifier"
    c.model.widths = (32, 64)  # One [3x3 conv, 4x4 stride-2 conv] pair per width.
    c.model.feature_dim = 128  # Penultimate layer: the FID features.
    c.model.dropout = 0.3
    # model.name=transfer (ganjax/methods/transfer_head.py): a frozen feature network
    # (discriminator:<run>, classifier:<path>, inception_v3) with an MLP head of head_hidden units.
    c.model.extractor = ""
    c.model.head_hidden = 256  # 0: a linear head (logistic regression on the features).
    c.model.feature_batch = 500  # Images per call of the frozen network (the last one padded).
    c.optim.d.learning_rate = 1e-3  # The classifier's optimizer is config.optim.d.
    c.optim.d.b1 = 0.9
    c.optim.d.schedule = "linear_decay"
    c.optim.d.decay_start_fraction = 0.5
    c.train.batch_size = 128
    c.train.num_epochs = 5.0
    c.train.log_every_steps = 100
    c.ckpt.every_steps = 0  # At the end only.
    c.ckpt.max_to_keep = 1
    if args.get("tiny"):
        base.apply_tiny(c)
        c.data.max_test_examples = 64
        c.model.widths = (8,)
        c.model.feature_dim = 16
        c.model.feature_batch = 8
        c.train.num_steps = 8
        c.ckpt.every_steps = 0
    if args.get("transfer"):  # The head on the dataset classifier's features (its own labels).
        c.model.name = "transfer"
        c.model.extractor = f"classifier:{dataset}"
        if args.get("tiny"):
            c.eval.classifier_arg = "tiny"
    return c
