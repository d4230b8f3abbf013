"""The book's drawing of a net (Fig. 1.1): one box per layer, in order, drawn to scale."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from vggrepro.analysis.figures import COLOURS, draw_layer_stack  # noqa: E402
from vggrepro.analysis.summary import walk  # noqa: E402
from vggrepro.arch.configs import VGGSpec  # noqa: E402


def boxes(spec: VGGSpec) -> tuple[list[Rectangle], list[str]]:
    """The drawn layer boxes, left to right, and every text on the axes."""
    ax = draw_layer_stack(spec)
    drawn = sorted((p for p in ax.patches if isinstance(p, Rectangle)), key=lambda r: r.get_x())
    texts = [t.get_text() for t in ax.texts]
    plt.close(ax.figure)
    return drawn, texts


SPECS = [VGGSpec("D"), VGGSpec("A-LRN", resolution=32)]


@pytest.mark.parametrize("spec", SPECS, ids=["D", "A-LRN"])
def test_each_layer_is_one_box_of_its_kind_drawn_to_scale(spec: VGGSpec) -> None:
    drawn, texts = boxes(spec)
    layers = list(walk(spec))
    assert len(drawn) == len(layers) + 1  # and the soft-max output
    kinds = {"conv": "conv3", "lrn": "LRN", "maxpool": "maxpool", "fc": "FC"}
    for box, (layer, name, side) in zip(drawn, layers, strict=False):
        key = kinds[layer.kind] if layer.kind != "conv" else f"conv{layer.kernel}"
        assert to_hex(box.get_facecolor()) == COLOURS[key]
        # A map's side to scale against the input; the FC vectors at a fixed height.
        expected = 0.35 * spec.resolution if layer.kind == "fc" else side
        assert box.get_height() == pytest.approx(expected), name
        assert name in texts
    soft_max = drawn[-1]
    assert to_hex(soft_max.get_facecolor()) == COLOURS["soft-max"]
    assert soft_max.get_height() == pytest.approx(0.35 * spec.resolution)
    assert f"stage 1\n{spec.resolution}×{spec.resolution}" in texts
    assert "FC head" in texts and texts.count("maxpool") == 5


def test_a_batch_norm_net_is_drawn_with_its_batch_norm_boxes() -> None:
    drawn, _ = boxes(VGGSpec("A", batch_norm=True, resolution=32))
    colours = [to_hex(b.get_facecolor()) for b in drawn]
    assert colours.count(COLOURS["BN"]) == colours.count(COLOURS["conv3"]) == 8


@pytest.mark.parametrize("spec", SPECS, ids=["D", "A-LRN"])
def test_one_dotted_line_parts_each_stage_from_the_next(spec: VGGSpec) -> None:
    """Four lines between the five conv stages and one before the FC head: none before the
    first box, after the last or across a box."""
    ax = draw_layer_stack(spec)
    lines = sorted(line.get_xdata()[0] for line in ax.lines)
    drawn = sorted((p for p in ax.patches if isinstance(p, Rectangle)), key=lambda r: r.get_x())
    plt.close(ax.figure)
    assert len(lines) == 5
    assert drawn[0].get_x() < lines[0] and lines[-1] < drawn[-1].get_x()
    for x in lines:
        assert not any(b.get_x() <= x <= b.get_x() + b.get_width() for b in drawn)
