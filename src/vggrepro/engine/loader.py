"""Batches from uint8 tensors that already live on the training device, augmented there.

The whole dataset sits on the device; each batch is gathered by index and augmented with a few
batched tensor operations, so the loop does no per-sample Python work and no host transfers.
All randomness comes from one ``torch.Generator`` on the device, so a seed fixes every epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Rescale a float batch (N, C, H, W) isotropically, bilinearly, to shorter side ``size``.

    This is the paper's rescaling of a test image to scale Q before dense evaluation.
    """
    h, w = x.shape[-2:]
    shorter = min(h, w)
    out = (round(h * size / shorter), round(w * size / shorter))
    return F.interpolate(x, size=out, mode="bilinear", align_corners=False)


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Flip a batch (N, C, H, W) horizontally."""
    return x.flip(-1)


def random_crop(
    x: torch.Tensor, height: int, width: int, generator: torch.Generator
) -> torch.Tensor:
    """Crop each image of ``x`` (N, C, H, W) to ``height`` x ``width`` at its own random offset."""
    n, c, h, w = x.shape
    top = torch.randint(0, h - height + 1, (n,), device=x.device, generator=generator)
    left = torch.randint(0, w - width + 1, (n,), device=x.device, generator=generator)
    rows = top[:, None] + torch.arange(height, device=x.device)  # (n, height)
    cols = left[:, None] + torch.arange(width, device=x.device)  # (n, width)
    x = x.gather(2, rows[:, None, :, None].expand(n, c, height, w))
    return x.gather(3, cols[:, None, None, :].expand(n, c, height, width))


def normalise(
    images: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """Pixel values in [0, 255] (N, C, H, W) to the float input of the nets:
    ``(x / 255 - mean) / std``, with ``mean`` and ``std`` per channel in [0, 1] units."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return (images.float() / 255 - m) / s


class DeviceLoader:
    """Batches ``(x, y)`` of normalised float32 images and int64 labels from device tensors.

    A training loader (``train=True``) shuffles every epoch and augments each batch, in order:

    - ``jitter=(smin, smax)``: rescale the batch so its shorter side is a random S in
      [smin, smax] (one S per batch), then crop each image back to its original size at a random
      offset. This is the paper's scale jittering (S in [256, 512], 224 x 224 crops) at CIFAR
      scale: the same ratios S / crop for 32 x 32 crops give ``jitter=(37, 73)``.
    - ``crop_padding=p``: pad with p black pixels on each side and crop back at a random offset,
      i.e. a random translation by up to p pixels. The paper's 224 crops from S = 256 play this
      part at single scale.
    - ``flip``: mirror each image horizontally with probability 1/2.

    An evaluation loader (``train=False``) yields the images in order, only normalised.
    ``mean`` and ``std`` are per channel in [0, 1] units (see ``data.channel_stats``).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        *,
        train: bool,
        mean: Sequence[float],
        std: Sequence[float],
        crop_padding: int = 4,
        flip: bool = True,
        jitter: tuple[int, int] | None = None,
        drop_last: bool = False,
        channels_last: bool = False,
        seed: int = 0,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}"
            )
        if labels.shape != (len(images),) or labels.device != images.device:
            raise ValueError("labels must be one per image, on the images' device")
        if not len(mean) == len(std) == images.shape[1]:
            raise ValueError(f"mean and std need one value per channel ({images.shape[1]})")
        if jitter is not None and not min(images.shape[-2:]) <= jitter[0] <= jitter[1]:
            raise ValueError(f"jitter {jitter} must satisfy min(H, W) <= smin <= smax")
        if batch_size < 1 or crop_padding < 0:
            raise ValueError("batch_size must be positive and crop_padding non-negative")
        self.images = images
        self.labels = labels.long()
        self.batch_size = batch_size
        self.train = train
        self.crop_padding = crop_padding
        self.flip = flip
        self.jitter = jitter
        self.drop_last = drop_last
        self.channels_last = channels_last
        self.device = images.device
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, bs = len(self.labels), self.batch_size
        if not self.train:
            for i in range(len(self)):
                x = self.images[i * bs : (i + 1) * bs].float()
                yield self._normalise(x), self.labels[i * bs : (i + 1) * bs]
            return
        g = self.generator
        order = torch.randperm(n, device=self.device, generator=g)
        if self.jitter is not None:  # one scale per batch, drawn up front: one sync per epoch
            smin, smax = self.jitter
            scales = torch.randint(smin, smax + 1, (len(self),), device=self.device, generator=g)
            scales = scales.tolist()
        for i in range(len(self)):
            index = order[i * bs : (i + 1) * bs]
            x = self.images[index].float()
            h, w = x.shape[-2:]
            if self.jitter is not None:
                x = random_crop(resize(x, scales[i]), h, w, g)
            if self.crop_padding:
                x = random_crop(F.pad(x, (self.crop_padding,) * 4), h, w, g)
            if self.flip:
                mirror = torch.rand(len(x), device=self.device, generator=g) < 0.5
                x = torch.where(mirror[:, None, None, None], hflip(x), x)
            yield self._normalise(x), self.labels[index]

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        """``normalise``, in the requested memory layout."""
        x = normalise(x, self.mean, self.std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The generator's state; taken between epochs, it fixes every later epoch."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore a state from ``state_dict`` (possibly saved from another loader)."""
        self.generator.set_state(state["generator"].cpu())
