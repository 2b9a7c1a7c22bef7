"""The PyTorch twins of ganjax's steps and networks, for side-by-side checks and benchmarks only.

  reference.py        a train step per benchmark model (`experiments.benchmark --torch` runs it)
  inception.py        the FID Inception forward (`experiments.benchmark --model=inception --torch`)
  translation_nets.py the pix2pix / CycleGAN authors' networks, used by reference.py and tests
  refs.py             pytorch-fid's and torch-fidelity's metric functions, imported without
                      their torchvision dependency

Absolute imports only: inside this folder `torch` names the real PyTorch package, never this one.
ganjax itself runs without PyTorch; nothing under ganjax/ imports these modules.
"""
