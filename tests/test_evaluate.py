"""Test-time protocols: centre, flip, dense at several scales, multi-crop."""

import pytest
import torch

from vggrepro.evaluate import accuracy, evaluate, topk_correct
from vggrepro.models import build


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


def test_no_multi_crop_without_a_larger_scale(net: torch.nn.Module) -> None:
    x, y = torch.randn(4, 3, 32, 32), torch.arange(4)
    assert "multi-crop" not in evaluate(net, batches(x, y), scales=(32,))


def test_evaluate_needs_images(net: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="no test images"):
        evaluate(net, [], scales=(32,))


def test_no_scales_means_the_centre_and_flip_protocols_only(net: torch.nn.Module) -> None:
    torch.manual_seed(2)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    metrics = evaluate(net, batches(x, y), scales=())
    assert set(metrics) == {"centre", "flip"}
    assert metrics["centre"] == evaluate(net, batches(x, y), scales=(32,))["centre"]
