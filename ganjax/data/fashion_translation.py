"""Two real image-to-image translation tasks built from Fashion-MNIST.

* Paired, edges -> garment (`load_fashion_edges`): the input is an edge map of the garment
  computed by the fixed detector `edge_map`, the target the garment itself, like the pix2pix
  edges2shoes / edges2handbags sets (whose edges are also black lines on white). Every image of
  the split gives one pair, so train / test are Fashion-MNIST's own 60000 / 10000.
* Unpaired, garment class <-> garment class (`load_fashion_classes`): domain A is every image
  of one class, domain B every image of another, from the same split. The default is sneaker
  (7) <-> ankle boot (9): both are side views of footwear on the same canvas, so a mapping
  exists, but the boot has a tall shaft the sneaker lacks, so the translation must change the
  silhouette, not only texture or color (the case CycleGAN finds hard). Each class has 6000
  train and 1000 test images, so the domains are balanced.

Both return what ganjax/data/translation.py returns ({"input", "target"} or {"a", "b"}, uint8
[N, S, S, 1]), so the same method code runs on them and on the authors' sets. Images come from
`ganjax.data.load_split("fashion_mnist", ...)`: the original IDX files (`manual_dir`, or the
standard places, e.g. /usr/share/datasets/fashion-mnist), or a prepared tfds copy.

The edge detector, `edge_map(images, sigma=1.0, threshold=0.25)`:
  1. x = image / 255 in float64;
  2. Gaussian smoothing with standard deviation `sigma` pixels: weights exp(-k^2 / (2 sigma^2))
     for k in [-r, r], r = int(4 sigma + 0.5), normalized to sum 1, applied along rows then
     columns (skipped when sigma = 0);
  3. Sobel derivatives: g_x = [-1, 0, 1] along columns (x) and [1, 2, 1] along rows, g_y the
     same with the axes swapped;
  4. magnitude m = sqrt(g_x^2 + g_y^2);
  5. a pixel is an edge when m > threshold * max(m) over its image (an image with max(m) = 0
     has none);
  6. output uint8: 0 (black) on edges, 255 (white) elsewhere.
Borders are extended by half-sample reflection (d c b a | a b c d) in steps 2 and 3; steps 2-4
are scipy.ndimage's gaussian_filter and sobel with their default mode "reflect", written here
in numpy so that the definition is explicit. At 28x28, sigma = 1 suppresses the pixel noise of
the textures and 0.25 keeps the outline and the main inner seams (checked on the test set).
"""

from __future__ import annotations

import numpy as np

from ganjax.data.jitter import resize_batch
from ganjax.data.sources import load_split
from ganjax.errors import ConfigError, DataError

Dataset = dict[str, np.ndarray]

FASHION_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
SNEAKER, ANKLE_BOOT = 7, 9
EDGE_SIGMA = 1.0
EDGE_THRESHOLD = 0.25
_CHUNK = 2048  # Images per vectorized edge pass (bounds the float64 temporaries).


def _correlate1d(x: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """out[i] = sum_k weights[k] * x[i + k - r] along `axis`, r = len(weights) // 2,
    with half-sample reflection at the borders (scipy.ndimage mode "reflect")."""
    r = len(weights) // 2
    pad = [(0, 0)] * x.ndim
    pad[axis] = (r, r)
    padded = np.pad(x, pad, mode="symmetric")
    n = x.shape[axis]
    out = np.zeros_like(x, dtype=np.float64)
    for k, w in enumerate(weights):
        out += w * np.take(padded, np.arange(k, k + n), axis=axis)
    return out


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalized 1-D Gaussian weights on [-r, r], r = int(4 sigma + 0.5)."""
    radius = int(4.0 * sigma + 0.5)
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (k / sigma) ** 2)
    return weights / weights.sum()


def edge_magnitude(images: np.ndarray, sigma: float = EDGE_SIGMA) -> np.ndarray:
    """Sobel gradient magnitude of Gaussian-smoothed images (steps 1-4 of the module docstring).

    Args:
      images: uint8 [N, H, W, 1] or [N, H, W] grayscale images.
      sigma: Gaussian standard deviation in pixels (0: no smoothing).

    Returns:
      float64 [N, H, W].
    """
    images = np.asarray(images)
    if images.ndim == 4:
        if images.shape[-1] != 1:
            raise ValueError(f"edge_magnitude needs one channel, got shape {images.shape}")
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must be [N, H, W] or [N, H, W, 1], got {images.shape}")
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    x = images.astype(np.float64) / 255.0  # [N, H, W]
    if sigma > 0:
        g = gaussian_kernel(sigma)
        x = _correlate1d(_correlate1d(x, g, axis=1), g, axis=2)
    derivative, smooth = np.array([-1.0, 0.0, 1.0]), np.array([1.0, 2.0, 1.0])
    gx = _correlate1d(_correlate1d(x, derivative, axis=2), smooth, axis=1)
    gy = _correlate1d(_correlate1d(x, derivative, axis=1), smooth, axis=2)
    return np.sqrt(gx**2 + gy**2)


def edge_map(
    images: np.ndarray, sigma: float = EDGE_SIGMA, threshold: float = EDGE_THRESHOLD
) -> np.ndarray:
    """Black-on-white binary edge maps (the detector in the module docstring).

    Args:
      images: uint8 [N, H, W, 1] grayscale images.
      sigma: Gaussian standard deviation in pixels.
      threshold: fraction of each image's largest gradient magnitude above which a pixel is
        an edge, in [0, 1).

    Returns:
      uint8 [N, H, W, 1]: 0 on edges, 255 elsewhere.
    """
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    images = np.asarray(images)
    out = np.empty(images.shape[:3] + (1,), np.uint8)
    for start in range(0, len(images), _CHUNK):
        m = edge_magnitude(images[start : start + _CHUNK], sigma)  # [n, H, W]
        peak = m.max(axis=(1, 2), keepdims=True)
        edges = (m > threshold * peak) & (peak > 0)
        out[start : start + _CHUNK, ..., 0] = np.where(edges, 0, 255).astype(np.uint8)
    return out


def _load(
    split: str,
    manual_dir: str | None,
    tfds_data_dir: str | None,
) -> Dataset:
    if split not in ("train", "test"):
        raise ConfigError(f"Fashion-MNIST translation splits are 'train' and 'test', not '{split}'")
    return load_split("fashion_mnist", split, manual_dir=manual_dir, tfds_data_dir=tfds_data_dir)


def load_fashion_edges(
    split: str,
    *,
    manual_dir: str | None = None,
    tfds_data_dir: str | None = None,
    direction: str = "AtoB",
    load_size: int | None = None,
    sigma: float = EDGE_SIGMA,
    threshold: float = EDGE_THRESHOLD,
    max_examples: int | None = None,
) -> Dataset:
    """The paired edges -> garment task on one Fashion-MNIST split.

    Args:
      split: "train" (60000 pairs) or "test" (10000).
      manual_dir: folder with the Fashion-MNIST IDX files (see ganjax.data.load_split).
      tfds_data_dir: tfds data_dir with a prepared fashion_mnist, used without local files.
      direction: "AtoB" (input = edge map, target = garment) or "BtoA".
      load_size: resize garments to load_size x load_size (bicubic) before the edges are
        computed, so the edge maps stay binary; None keeps 28.
      sigma: edge detector's Gaussian standard deviation (pixels at the output size).
      threshold: edge detector's fraction of each image's peak gradient.
      max_examples: keep only the first N images of the split.

    Returns:
      {"input": uint8 [N, S, S, 1], "target": uint8 [N, S, S, 1], "label": int32 [N]} with
      "label" the garment class of each pair (for class-wise evaluation).

    Raises:
      ganjax.data.DatasetNotFoundError: when Fashion-MNIST is not found.
    """
    if direction not in ("AtoB", "BtoA"):
        raise ConfigError(f"direction must be 'AtoB' or 'BtoA', not '{direction}'")
    data = _load(split, manual_dir, tfds_data_dir)
    garments, labels = data["image"][:max_examples], data["label"][:max_examples]
    if load_size is not None:
        garments = resize_batch(garments, load_size)
    edges = edge_map(garments, sigma, threshold)
    a, b = (edges, garments) if direction == "AtoB" else (garments, edges)
    return {"input": a, "target": b, "label": labels.astype(np.int32)}


def load_fashion_classes(
    split: str,
    *,
    class_a: int = SNEAKER,
    class_b: int = ANKLE_BOOT,
    manual_dir: str | None = None,
    tfds_data_dir: str | None = None,
    load_size: int | None = None,
    max_examples: int | None = None,
) -> Dataset:
    """The unpaired class_a <-> class_b task on one Fashion-MNIST split.

    Args:
      split: "train" or "test".
      class_a: Fashion-MNIST label of domain A (default 7, sneaker; see FASHION_CLASSES).
      class_b: label of domain B (default 9, ankle boot).
      manual_dir: folder with the Fashion-MNIST IDX files (see ganjax.data.load_split).
      tfds_data_dir: tfds data_dir with a prepared fashion_mnist, used without local files.
      load_size: resize to load_size x load_size (bicubic); None keeps 28.
      max_examples: keep only the first N images of each domain (in dataset order).

    Returns:
      {"a": uint8 [Na, S, S, 1], "b": uint8 [Nb, S, S, 1]}: every image of class_a, and of
      class_b, in the split, in dataset order.

    Raises:
      ValueError: for a class outside 0..9, equal classes, or a class absent from the split.
      ganjax.data.DatasetNotFoundError: when Fashion-MNIST is not found.
    """
    for c in (class_a, class_b):
        if not 0 <= c < len(FASHION_CLASSES):
            raise ConfigError(f"Fashion-MNIST classes are 0..9 ({FASHION_CLASSES}), not {c}")
    if class_a == class_b:
        raise ConfigError(f"class_a and class_b must differ, both are {class_a}")
    data = _load(split, manual_dir, tfds_data_dir)
    out = {}
    for key, c in (("a", class_a), ("b", class_b)):
        images = data["image"][data["label"] == c][:max_examples]
        if not len(images):
            raise DataError(f"Fashion-MNIST {split} has no images of class {c}")
        out[key] = images if load_size is None else resize_batch(images, load_size)
    return out
