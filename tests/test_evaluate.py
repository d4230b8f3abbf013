"""Test-time protocols: centre, flip, dense at several scales, multi-crop."""

import pytest
import torch

from vggrepro.arch.configs import VGGSpec
from vggrepro.arch.initialisation import initialise
from vggrepro.arch.models import VGG, build, to_dense
from vggrepro.engine.evaluate import (
    _crops,
    _views,
    accuracy,
    evaluate,
    folder_protocols,
    folder_views,
    topk_correct,
)
from vggrepro.engine.loader import hflip, resize


def test_topk_correct_counts_labels_among_the_top_k() -> None:
    p = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    y = torch.tensor([2, 0, 1])
    assert topk_correct(p, y, 1) == 1
    assert topk_correct(p, y, 2) == 3
    assert topk_correct(p, y, 10) == 3  # k larger than the class count is clipped


@pytest.fixture
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return build("A", num_classes=10, resolution=32, width=0.125, fc_width=32)


def batches(x: torch.Tensor, y: torch.Tensor, size: int = 8):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(y), size)]


def test_protocols_agree_where_they_must(net: torch.nn.Module) -> None:
    torch.manual_seed(1)
    x = torch.randn(24, 3, 32, 32)
    x = (x + x.flip(3)) / 2  # mirror-symmetric images: flipping changes nothing
    y = torch.randint(0, 10, (24,))
    metrics = evaluate(net, batches(x, y), scales=(32, 48, 64))
    assert metrics["centre"] == metrics["dense@32"]  # the dense net is the same function
    assert metrics["centre"] == metrics["flip"]
    expected = {"centre", "flip", "dense multi-scale", "multi-crop", "dense + multi-crop"}
    expected |= {f"dense@{q}{f}" for q in (32, 48, 64) for f in ("", "+flip")}
    assert set(metrics) == expected
    for m in metrics.values():
        assert 0 <= m["top5_error"] <= m["top1_error"] <= 100
    centre_acc = 1 - metrics["centre"]["top1_error"] / 100
    assert accuracy(net, batches(x, y)) == pytest.approx(centre_acc)
    assert net.training  # evaluate restores the mode it found


def test_scales_given_as_a_one_pass_iterable_serve_every_batch(net: torch.nn.Module) -> None:
    """``scales`` may be any iterable, a generator too: every batch is seen at every scale."""
    torch.manual_seed(3)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    once = evaluate(net, batches(x, y), scales=(q for q in (32, 64)))
    assert once == evaluate(net, batches(x, y), scales=(32, 64))


def test_no_multi_crop_without_a_larger_scale(net: torch.nn.Module) -> None:
    x, y = torch.randn(4, 3, 32, 32), torch.arange(4)
    assert "multi-crop" not in evaluate(net, batches(x, y), scales=(32,))


def test_evaluate_needs_images_and_accuracy_reads_zero_without_them(net: torch.nn.Module) -> None:
    """No test images is an error for the test protocols; validation without images has no
    hits, an accuracy of 0."""
    with pytest.raises(ValueError, match="no test images"):
        evaluate(net, [], scales=(32,))
    assert accuracy(net, []) == 0.0


def test_no_scales_means_the_centre_and_flip_protocols_only(net: torch.nn.Module) -> None:
    torch.manual_seed(2)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    metrics = evaluate(net, batches(x, y), scales=())
    assert set(metrics) == {"centre", "flip"}
    assert metrics["centre"] == evaluate(net, batches(x, y), scales=(32,))["centre"]


class ScoresFromTheTopRow(VGG):
    """A "net" whose class scores are pixels 0..9 of its input's top row (channel 0): a test
    image sets its scores, and its mirror image's scores are pixels 31..22 of that row."""

    def __init__(self) -> None:
        super().__init__(VGGSpec("A", num_classes=10, resolution=32, width=1 / 16, fc_width=8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, 0, :10]


def scored(centre: dict[int, float], mirrored: dict[int, float]) -> torch.Tensor:
    """An image whose scores are ``centre`` ({class: score}, others 0) and whose mirror
    image's scores are ``mirrored``."""
    x = torch.zeros(3, 32, 32)
    for c, score in centre.items():
        x[0, 0, c] = score
    for c, score in mirrored.items():
        x[0, 0, 31 - c] = score
    return x


def test_top1_top5_and_the_flip_protocol_count_what_they_say() -> None:
    """Four images with known scores: label first (a), third (b), seventh (c); first, but its
    mirror image strongly prefers another class, which wins the average of the two (d)."""
    a = {0: 10.0}
    b = {5: 10.0, 6: 9.0, 1: 8.0}
    c = {3: 10.0, 4: 9.0, 5: 8.0, 6: 7.0, 7: 6.0, 8: 5.0, 2: 4.0}
    d, d_mirrored = {3: 5.0}, {9: 20.0}
    x = torch.stack([scored(a, a), scored(b, b), scored(c, c), scored(d, d_mirrored)])
    y = torch.tensor([0, 1, 2, 3])
    assert torch.equal(ScoresFromTheTopRow()(hflip(x))[3], torch.eye(10)[9] * 20)
    metrics = evaluate(ScoresFromTheTopRow(), [(x[:2], y[:2]), (x[2:], y[2:])], scales=())
    # centre: a and d right; top-5 also b. flip: only a; top-5 also b and d (second to 9).
    assert metrics["centre"] == {"top1_error": 50.0, "top5_error": 25.0}
    assert metrics["flip"] == {"top1_error": 75.0, "top5_error": 25.0}


def test_every_protocol_averages_the_posteriors_of_its_views() -> None:
    """The posteriors of each protocol, recomputed from the paper's definitions."""
    torch.manual_seed(0)
    spec = VGGSpec("A", num_classes=10, resolution=32, width=0.125, fc_width=32)
    net = initialise(build(spec), "kaiming").eval()  # keeps the signal: posteriors vary
    torch.manual_seed(4)
    x = torch.randn(3, 3, 32, 32)
    dense = to_dense(net).eval()
    with torch.no_grad():
        got = _views(net, dense, x, scales=(32, 64))

        def both(model: torch.nn.Module, v: torch.Tensor) -> torch.Tensor:
            return (model(v).softmax(1) + model(hflip(v)).softmax(1)) / 2

        centre = net(x).softmax(1)
        big = resize(x, 64)  # 2 x 2 score maps; the 3 x 3 grid of 32 px crops at 0, 16, 32
        crops = [big[..., i : i + 32, j : j + 32] for i in (0, 16, 32) for j in (0, 16, 32)]
        want = {
            "centre": centre,
            "flip": both(net, x),
            "dense@32": dense(x).softmax(1),
            "dense@32+flip": both(dense, x),
            "dense@64": dense(big).softmax(1),
            "dense@64+flip": both(dense, big),
            "dense multi-scale": (both(dense, x) + both(dense, big)) / 2,
            "multi-crop": sum(both(net, crop) for crop in crops) / 9,
        }
    want["dense + multi-crop"] = (want["dense multi-scale"] + want["multi-crop"]) / 2
    assert set(got) == set(want)
    for name, p in want.items():
        torch.testing.assert_close(got[name], p, msg=lambda m, name=name: f"{name}: {m}")
    # Mirror images and scales score differently under this net: every view carries weight.
    assert (got["flip"] - centre).abs().max() > 0.01
    assert (got["dense@64"] - got["dense@32"]).abs().max() > 0.01


def test_folder_views_average_each_images_dense_posteriors_over_flips_and_scales() -> None:
    """Images of mixed shapes at three scales, scored by the top-row net (which takes any
    width): each protocol recomputed per image from the softmax of its scores."""
    net = ScoresFromTheTopRow()
    torch.manual_seed(5)
    centre = 3 * torch.randn(3, 3, 32, 32)
    shapes = {40: [(40, 40), (40, 52), (40, 40)], 48: [(48, 60)] * 3, 56: [(56, 56), (70, 56),
              (56, 56)]}  # fmt: skip
    scaled = [[3 * torch.randn(3, h, w) for h, w in shapes[q]] for q in shapes]

    def posterior(image: torch.Tensor) -> torch.Tensor:
        return image[0, 0, :10].softmax(0)

    def both(image: torch.Tensor) -> torch.Tensor:
        return (posterior(image) + posterior(image.flip(-1))) / 2

    with torch.no_grad():
        got = folder_views(net, net, centre, scaled, scales=list(shapes))
    want = {
        "centre": torch.stack([posterior(c) for c in centre]),
        "flip": torch.stack([both(c) for c in centre]),
    }
    for q, images in zip(shapes, scaled, strict=True):
        want[f"dense@{q}"] = torch.stack([posterior(image) for image in images])
        want[f"dense@{q}+flip"] = torch.stack([both(image) for image in images])
    want["dense multi-scale"] = sum(want[f"dense@{q}+flip"] for q in shapes) / 3
    assert list(got) == folder_protocols(shapes) == [
        "centre", "flip", "dense@40", "dense@40+flip", "dense@48", "dense@48+flip", "dense@56",
        "dense@56+flip", "dense multi-scale",
    ]  # fmt: skip
    for name, p in want.items():
        torch.testing.assert_close(got[name], p, msg=lambda m, name=name: f"{name}: {m}")


def test_evaluation_leaves_a_net_in_eval_mode_in_eval_mode(net: torch.nn.Module) -> None:
    """``evaluate`` and ``accuracy`` put the net back in the mode they found it in, eval too."""
    net.eval()
    x, y = torch.randn(4, 3, 32, 32), torch.arange(4)
    evaluate(net, batches(x, y), scales=(32,))
    assert not net.training
    accuracy(net, batches(x, y))
    assert not net.training


@pytest.mark.parametrize(
    "h, w, rows, cols", [(40, 64, (0, 4, 8), (0, 16, 32)), (64, 40, (0, 16, 32), (0, 4, 8))]
)
def test_the_crop_grid_spans_both_sides_of_an_oblong_image(
    h: int, w: int, rows: tuple, cols: tuple
) -> None:
    """Nine 32 px crops: top, middle and bottom rows by left, centre and right columns, each
    side's offsets from its own length (each pixel holds its index, so a crop's first pixel
    says where it starts)."""
    x = torch.arange(h * w).view(1, 1, h, w)
    crops = _crops(x, 32)
    assert all(c.shape == (1, 1, 32, 32) for c in crops)
    assert [divmod(int(c[0, 0, 0, 0]), w) for c in crops] == [(i, j) for i in rows for j in cols]


def test_without_scales_the_folder_protocols_are_centre_and_flip_only() -> None:
    """No test scale: no dense protocol, and so no dense multi-scale average either."""
    net = ScoresFromTheTopRow()
    centre = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        got = folder_views(net, net, centre, [], scales=[])
    assert list(got) == folder_protocols(()) == ["centre", "flip"]


class ScoresThroughAMatmul(ScoresFromTheTopRow):
    """The top-row net with its scores passed through an identity matrix product, an operation
    that bf16 autocast would round to 8 bits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) @ torch.eye(10)


def test_on_the_cpu_evaluation_keeps_full_precision() -> None:
    """Scores 1.001 for the label against 1.0 for one other class (argmax would take the
    first of a tie), or for all nine others (so would top-k, most likely): fp32 tells them
    apart, bf16 would round them all to 1.0."""
    one = {0: 1.0, 1: 1.001}
    nine = {0: 1.001, **{c: 1.0 for c in range(1, 10)}}
    x = torch.stack([scored(one, one), scored(nine, nine)])
    y = torch.tensor([1, 0])
    net = ScoresThroughAMatmul()
    assert evaluate(net, [(x, y)], scales=())["centre"]["top1_error"] == 0.0
    assert accuracy(net, [(x, y)]) == 1.0
