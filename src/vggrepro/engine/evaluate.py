"""Test-time protocols of the paper's section 3.2, at CIFAR scale.

For every test image we form class posteriors (soft-max of the scores) from several views and
average them, as the paper does:

- ``centre``: the image as it is (at 32 px the "centre crop" is the whole image);
- ``flip``: the image and its horizontal flip;
- ``dense@Q``: the image resized to Q px and fed to the fully-convolutional net, whose class
  score map is averaged over positions (Q = 32 is the training size; the defaults 64 and 96
  give 2 x 2 and 3 x 3 maps; the paper tests at Q = 256, 384 and 512 against S = 256);
  ``+flip`` adds the flip;
- ``dense multi-scale``: dense and flipped at every Q, averaged (the paper's Table 4);
- ``multi-crop``: a 3 x 3 grid of 32 px crops of each resized image larger than 32, with
  flips (the paper's Table 5 uses a 5 x 5 grid at 224 px);
- ``dense + multi-crop``: the two averaged (Table 5's combination).

With no scales, only ``centre`` and ``flip`` are computed (the CPU tier's cheap default).

``folder_views`` computes the same protocols (bar multi-crop) for full-size images read from an
ImageFolder, where each test scale's images arrive already rescaled from the original and of
different shapes (``vggrepro.engine.ddp`` sums its counts over processes).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from vggrepro.arch.models import VGG, to_dense
from vggrepro.engine.loader import hflip, resize


def topk_correct(posteriors: torch.Tensor, labels: torch.Tensor, k: int) -> int:
    """How many labels are among the ``k`` highest posteriors."""
    k = min(k, posteriors.shape[1])
    top = posteriors.topk(k, dim=1).indices
    return int((top == labels[:, None]).any(dim=1).sum())


def _crops(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    """A 3 x 3 grid of ``size`` px crops: corners, edge centres and the centre."""
    h, w = x.shape[-2:]
    ys = sorted({0, (h - size) // 2, h - size})
    xs = sorted({0, (w - size) // 2, w - size})
    return [x[..., i : i + size, j : j + size] for i in ys for j in xs]


def _views(model: VGG, dense: torch.nn.Module, x: torch.Tensor, scales: Iterable[int]):
    """Posteriors of every protocol for one batch."""
    size = model.spec.resolution

    def both(net: torch.nn.Module, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return net(v).float().softmax(1), net(hflip(v)).float().softmax(1)

    centre, flipped = both(model, x)
    views = {"centre": centre, "flip": (centre + flipped) / 2}
    dense_all, crops_all = [], []
    for q in scales:
        xq = x if q == x.shape[-1] else resize(x, q)
        p, pf = both(dense, xq)
        views[f"dense@{q}"] = p
        views[f"dense@{q}+flip"] = (p + pf) / 2
        dense_all.append((p + pf) / 2)
        if q > size:
            crops_all += [sum(both(model, c)) / 2 for c in _crops(xq, size)]
    if dense_all:
        views["dense multi-scale"] = torch.stack(dense_all).mean(0)
    if crops_all:
        views["multi-crop"] = torch.stack(crops_all).mean(0)
        views["dense + multi-crop"] = (views["multi-crop"] + views["dense multi-scale"]) / 2
    return views


@torch.no_grad()
def evaluate(
    model: VGG, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], scales: Iterable[int]
) -> dict[str, dict[str, float]]:
    """Top-1 and top-5 error (percent) of every protocol over ``batches`` of normalised images."""
    was_training = model.training
    model.eval()
    dense = to_dense(model).eval()
    scales = list(scales)
    correct: dict[str, list[int]] = {}
    total = 0
    device_type = next(model.parameters()).device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=device_type == "cuda"):
        for x, y in batches:
            for name, p in _views(model, dense, x, scales).items():
                c = correct.setdefault(name, [0, 0])
                c[0] += topk_correct(p, y, 1)
                c[1] += topk_correct(p, y, 5)
            total += len(y)
    model.train(was_training)
    if total == 0:
        raise ValueError("evaluate() was given no test images")
    return {
        name: {"top1_error": 100 * (1 - c1 / total), "top5_error": 100 * (1 - c5 / total)}
        for name, (c1, c5) in correct.items()
    }


@torch.no_grad()
def accuracy(model: VGG, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Top-1 accuracy (fraction) of the single centre view, for validation during training."""
    was_training = model.training
    model.eval()
    hits = torch.zeros((), dtype=torch.long)
    total = 0
    device_type = next(model.parameters()).device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=device_type == "cuda"):
        for x, y in batches:
            hits = hits.to(y.device) + (model(x).argmax(1) == y).sum()
            total += len(y)
    model.train(was_training)
    return hits.item() / max(total, 1)


def folder_protocols(scales: Iterable[int]) -> list[str]:
    """The protocols ``folder_views`` computes, in a fixed order (for summing over processes)."""
    dense = [name for q in scales for name in (f"dense@{q}", f"dense@{q}+flip")]
    return ["centre", "flip", *dense, *(["dense multi-scale"] if dense else [])]


def _dense_both(dense: torch.nn.Module, images: list[torch.Tensor]) -> list[torch.Tensor]:
    """Posteriors of each image and of its flip, (2, classes) per image; images of one shape
    go through the net together."""
    out: list[torch.Tensor] = [torch.empty(0)] * len(images)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(tuple(image.shape), []).append(i)
    for members in groups.values():
        x = torch.stack([images[i] for i in members])
        both = torch.stack([dense(x).float().softmax(1), dense(hflip(x)).float().softmax(1)], 1)
        for i, pair in zip(members, both, strict=True):
            out[i] = pair
    return out


def folder_views(
    model: VGG, dense: torch.nn.Module, centre: torch.Tensor, scaled: list[list[torch.Tensor]],
    scales: Iterable[int],
) -> dict[str, torch.Tensor]:  # fmt: skip
    """Posteriors of every protocol of ``folder_protocols`` for one batch of full-size images:
    ``centre`` crops (N, C, crop, crop) and, for each Q of ``scales``, the N whole images
    rescaled to Q (shapes differ), all normalised. The dense net sees each whole image, its
    class-score map averaged, as in the paper's dense evaluation."""
    p, pf = model(centre).float().softmax(1), model(hflip(centre)).float().softmax(1)
    views = {"centre": p, "flip": (p + pf) / 2}
    dense_all = []
    for q, images in zip(scales, scaled, strict=True):
        both = torch.stack(_dense_both(dense, images))  # (N, 2, classes)
        views[f"dense@{q}"] = both[:, 0]
        views[f"dense@{q}+flip"] = both.mean(1)
        dense_all.append(both.mean(1))
    if dense_all:
        views["dense multi-scale"] = sum(dense_all) / len(dense_all)
    return views
