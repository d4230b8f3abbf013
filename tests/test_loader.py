"""Tests for vggrepro.engine.loader: coverage, determinism, augmentation geometry, normalisation."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from vggrepro.engine.loader import DeviceLoader, hflip, resize

N, SIZE = 50, 8
PAD = 2
IDENTITY = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}


def images_with_positions(n: int = N, size: int = SIZE, width: int | None = None) -> torch.Tensor:
    """uint8 images (``size`` high, ``width`` or ``size`` wide) whose every pixel value is unique
    within an image and non-zero (at most 85 pixels per channel)."""
    width = width or size
    positions = torch.arange(1, 3 * size * width + 1).view(3, size, width)  # 1..192 for size 8
    return positions.to(torch.uint8).expand(n, -1, -1, -1).contiguous()


def loader(**kwargs) -> DeviceLoader:
    options = {"batch_size": 16, "train": True, **IDENTITY, "seed": 0} | kwargs
    images = options.pop("images", images_with_positions())
    labels = options.pop("labels", torch.arange(len(images)))
    return DeviceLoader(images, labels, **options)


def epoch(dl: DeviceLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """All batches of one epoch, concatenated."""
    xs, ys = zip(*dl, strict=True)
    return torch.cat(xs), torch.cat(ys)


def pixels(x: torch.Tensor) -> torch.Tensor:
    """Back from identity-normalised floats to pixel values."""
    return (x * 255).round()


def shifted(image: torch.Tensor, dy: int, dx: int, pad: int = PAD) -> torch.Tensor:
    """``image`` translated by (dy, dx) pixels, zero-filled: what a padded random crop gives."""
    padded = F.pad(image, (pad,) * 4)
    h, w = image.shape[-2:]
    return padded[:, pad - dy : pad - dy + h, pad - dx : pad - dx + w]


@pytest.mark.parametrize(
    ("batch_size", "sizes"), [(16, [16, 16, 16, 2]), (1, [1] * N)], ids=["partial", "single"]
)
def test_epoch_covers_every_index_once(batch_size: int, sizes: list[int]) -> None:
    """Every image once per epoch, shuffled, in full batches and a last partial one
    (50 = 3 x 16 + 2); a batch of one image is allowed."""
    dl = loader(batch_size=batch_size)
    assert len(dl) == len(sizes)
    assert [len(y) for _, y in dl] == sizes
    _, y = epoch(dl)
    assert torch.equal(y.sort().values, torch.arange(N))
    assert not torch.equal(y, torch.arange(N))  # shuffled


def test_drop_last_drops_the_partial_batch() -> None:
    dl = loader(batch_size=16, drop_last=True)
    assert len(dl) == 3
    _, y = epoch(dl)
    assert len(y) == 48 and len(y.unique()) == 48


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("label_dtype", [torch.int64, torch.int32, torch.uint8])
def test_batches_are_float32_and_int64(train: bool, label_dtype: torch.dtype) -> None:
    """Whatever integer type the labels come in, batches hold int64 labels (what the loss
    takes), the same values, and float32 images in the usual contiguous layout."""
    labels = torch.arange(N).to(label_dtype)
    x, y = next(iter(loader(labels=labels, train=train)))
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.shape == (16, 3, SIZE, SIZE) and x.is_contiguous()
    assert bool((y < N).all()) and len(y.unique()) == 16


def test_same_seed_same_batches_other_seed_other_order() -> None:
    a, b, c = (epoch(loader(seed=s, jitter=(8, 12))) for s in (3, 3, 4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    images = images_with_positions()
    default = DeviceLoader(images, torch.arange(N), 16, train=True, **IDENTITY)
    assert torch.equal(epoch(default)[0], epoch(loader(seed=0))[0])  # the default seed is 0


def test_successive_epochs_differ() -> None:
    dl = loader()
    assert not torch.equal(epoch(dl)[1], epoch(dl)[1])


@pytest.mark.parametrize(
    ("width", "options", "pad"),
    [
        (SIZE, {"crop_padding": PAD, "flip": True}, PAD),
        (6, {"crop_padding": PAD, "flip": True}, PAD),  # 8 high, 6 wide
        (SIZE, {}, 4),  # the defaults: padding 4 and flips
    ],
    ids=["square", "non-square", "defaults"],
)
def test_crop_and_flip_give_only_valid_shifts_of_the_original(
    width: int, options: dict, pad: int
) -> None:
    """Every output is the image, mirrored or not, shifted by at most ``pad`` pixels each way,
    at its own size; about every such shift and both mirrorings appear."""
    outcomes = (2 * pad + 1) ** 2 * 2
    images = images_with_positions(4 * outcomes, width=width)
    x, y = epoch(loader(images=images, batch_size=64, **options))
    original = images[0].float()
    candidates = {
        shifted(hflip(original) if f else original, dy, dx, pad).numpy().tobytes(): (dy, dx, f)
        for dy, dx, f in itertools.product(range(-pad, pad + 1), range(-pad, pad + 1), (0, 1))
    }
    assert len(candidates) == outcomes  # all distinct
    assert x.shape == (len(images), 3, SIZE, width)
    seen = [candidates.get(out.numpy().tobytes()) for out in pixels(x)]
    assert None not in seen
    # With 4 draws per outcome, nearly all appear; a stuck offset or flip would not.
    assert len(set(seen)) > 0.9 * outcomes
    assert {f for _, _, f in seen} == {0, 1}


def test_each_image_is_flipped_on_its_own_coin() -> None:
    """Flip only: every output is its image or the image mirrored, each image decided on its
    own: every batch holds both, and about half of all images are flipped."""
    images = images_with_positions(1000)
    dl = loader(images=images, crop_padding=0, flip=True, batch_size=50)
    original, mirrored = images[0].float(), hflip(images[0].float())
    flips = []
    for x, _ in dl:
        batch = []
        for out in pixels(x):
            assert torch.equal(out, original) or torch.equal(out, mirrored)
            batch.append(torch.equal(out, mirrored))
        assert 0 < sum(batch) < len(batch)  # one coin per batch: 20 batches of all or nothing
        flips += batch
    assert 400 < sum(flips) < 600  # 1000 fair coins: 500 +- 16


def test_no_augmentation_when_disabled() -> None:
    x, y = epoch(loader(crop_padding=0, flip=False))
    assert torch.equal(pixels(x), images_with_positions()[y].float())


def test_normalisation_uses_mean_and_std() -> None:
    images = torch.randint(0, 256, (10, 3, SIZE, SIZE), dtype=torch.uint8)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    dl = DeviceLoader(images, torch.arange(10), 4, train=False, mean=mean, std=std)
    x, _ = epoch(dl)
    expected = (
        images.double() / 255 - torch.tensor(mean).view(1, 3, 1, 1).double()
    ) / torch.tensor(std).view(1, 3, 1, 1).double()
    torch.testing.assert_close(x.double(), expected, rtol=0, atol=1e-5)


def test_eval_loader_is_ordered_and_unaugmented() -> None:
    dl = loader(train=False, crop_padding=PAD, flip=True, jitter=(10, 16), batch_size=16)
    assert len(dl) == 4
    x, y = epoch(dl)
    assert torch.equal(y, torch.arange(N))
    assert torch.equal(pixels(x), images_with_positions().float())
    assert torch.equal(epoch(dl)[0], x)  # every epoch the same


def test_state_dict_round_trip_reproduces_the_next_epoch() -> None:
    options = {"crop_padding": PAD, "flip": True, "jitter": (8, 14)}
    first = loader(seed=7, **options)
    epoch(first)
    state = first.state_dict()
    expected = epoch(first)
    resumed = loader(seed=123, **options)
    resumed.load_state_dict(state)
    got = epoch(resumed)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_jitter_keeps_the_size() -> None:
    x, _ = epoch(loader(jitter=(9, 20), crop_padding=0, flip=False))
    assert x.shape == (N, 3, SIZE, SIZE)


def test_jitter_at_the_original_size_is_the_identity() -> None:
    x, y = epoch(loader(jitter=(SIZE, SIZE), crop_padding=0, flip=False))
    assert torch.equal(pixels(x), images_with_positions()[y].float())


def test_jitter_crops_a_rescaled_image() -> None:
    image = images_with_positions(1)[0].float()
    big = resize(image[None], 2 * SIZE)[0]
    crops = [big[:, i : i + SIZE, j : j + SIZE] for i in range(SIZE + 1) for j in range(SIZE + 1)]
    x, _ = epoch(loader(jitter=(2 * SIZE, 2 * SIZE), crop_padding=0, flip=False))
    offsets = set()
    for out in x * 255:
        (k,) = [k for k, crop in enumerate(crops) if torch.allclose(out, crop, atol=1e-3)]
        offsets.add(k)
    assert len(offsets) > 10  # crops at random offsets, not one fixed corner


@pytest.mark.parametrize("train", [True, False])
def test_channels_last_output(train: bool) -> None:
    x, _ = next(iter(loader(channels_last=True, train=train)))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert not x.is_contiguous()


def test_resize_scales_the_shorter_side_and_hflip_mirrors() -> None:
    x = torch.rand(2, 3, 8, 12)
    assert resize(x, 16).shape == (2, 3, 16, 24)
    # the longer side to the nearest pixel: 5 * 4 / 3 = 6.67 is 7, not 6
    assert resize(torch.rand(1, 3, 3, 5), 4).shape == (1, 3, 4, 7)
    assert resize(torch.rand(1, 3, 5, 3), 4).shape == (1, 3, 7, 4)
    assert torch.equal(hflip(x)[..., 0], x[..., -1])
    # bilinear, pixel centres aligned (align_corners=False): 0, 10 doubled is 0, 2.5, 7.5, 10
    two = torch.tensor([0.0, 10.0]).view(1, 1, 1, 2).expand(1, 1, 2, 2)
    assert resize(two, 4)[0, 0, 0].tolist() == [0.0, 2.5, 7.5, 10.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"images": images_with_positions().float()}, "images must be uint8"),
        ({"labels": torch.arange(len(images_with_positions()) - 1)}, "one per image"),
        ({"labels": torch.arange(N, device="meta")}, "on the images' device"),
        ({"jitter": (SIZE - 1, 12)}, "must satisfy min"),
        ({"jitter": (12, 10)}, "must satisfy min"),
        ({"mean": (0.5,)}, "one value per channel"),
        ({"mean": (0.5,), "std": (0.5,)}, "one value per channel"),  # agree, but not with C
        ({"batch_size": 0}, "batch_size must be positive"),
        ({"crop_padding": -1}, "crop_padding non-negative"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        loader(**kwargs)


def test_jitter_draws_one_scale_per_batch_and_another_for_the_next() -> None:
    """Images that rise by 10 per column: bilinearly rescaled to S, their inner columns rise by
    80 / S, whatever the crop offset, which gives S back for every output image."""
    ramp = (torch.arange(SIZE) * 10).to(torch.uint8).expand(40, 3, SIZE, SIZE).contiguous()
    dl = loader(images=ramp, jitter=(SIZE, 5 * SIZE), crop_padding=0, flip=False, batch_size=4)
    per_batch = []
    for x, _ in dl:
        slopes = (x * 255).diff(dim=-1).flatten(1).median(dim=1).values
        scales = {round(80 / s) for s in slopes.tolist()}
        assert len(scales) == 1  # one S per batch
        (scale,) = scales
        assert SIZE <= scale <= 5 * SIZE
        per_batch.append(scale)
    assert len(per_batch) == 10 and len(set(per_batch)) >= 5  # 10 draws from 33 values


def test_jitter_crops_a_non_square_image_back_to_its_own_height_and_width() -> None:
    """6 x 10 images, rescaled to a shorter side S in [6, 15], come back 6 high, 10 wide."""
    images = images_with_positions(size=10)[:, :, :6, :]
    dl = loader(images=images, jitter=(6, 15), crop_padding=0, flip=False, batch_size=8)
    x, _ = epoch(dl)
    assert x.shape == (N, 3, 6, 10)
