"""CelebA Male / female from 50 labeled faces per side through synthetic data (Langr's VAE-GAN
chapter; ganjax/latent/synthetic_pipeline.py).

  python -m experiments.train --config=configs/celeba_synthetic.py \
      --workdir=runs/celeba_syn --config.data.manual_dir=/data/celeba

The generative model is configs/celeba_vaegan.py (crop 108, 64 px); the classifier
configs/celeba_classifier.py's network, scored on the real test split's Male attribute (the
source scored on 100 hand-labeled faces). Arguments: configs/synthetic_common.py, plus
attribute=<CelebA attribute> (default Male) and res=28|32|64.
"""

from configs import celeba_classifier, celeba_vaegan, synthetic_common


def get_config(arg=None):
    args = synthetic_common.parse(arg, ("attribute", "res"))
    res = int(args.get("res", 64))
    tiny = "tiny," if args.get("tiny") else ""
    c = synthetic_common.get_synthetic_config(
        "celeb_a",
        args,
        generative=celeba_vaegan.get_config(f"{tiny}res={res}"),
        classifier=celeba_classifier.get_config(f"{tiny}res={res}"),
        attribute=str(args.get("attribute", "Male")),
        num_labeled=50,
    )
    return c
