"""The book's drawing of a net (Fig. 1.1): one box per layer, in order, drawn to scale."""

import math

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


@pytest.mark.parametrize(
    "spec, key, count",
    [(VGGSpec("A", batch_norm=True, resolution=32), "BN", 8), (SPECS[1], "LRN", 1)],
    ids=["BN", "LRN"],
)
def test_normalisation_boxes_are_as_thin_as_pooling_boxes(
    spec: VGGSpec, key: str, count: int
) -> None:
    """Batch-norm and LRN layers change no shape: drawn 0.35 wide, as pooling is, and thinner
    than every convolution."""
    drawn, _ = boxes(spec)
    width = {k: [b.get_width() for b in drawn if to_hex(b.get_facecolor()) == COLOURS[k]]
             for k in (key, "maxpool", "conv3")}  # fmt: skip
    assert width[key] == pytest.approx([0.35] * count)
    assert width["maxpool"] == pytest.approx([0.35] * 5)
    assert max(width[key]) < min(width["conv3"])


@pytest.mark.parametrize("spec", SPECS, ids=["D", "A-LRN"])
def test_one_dotted_line_parts_each_stage_from_the_next(spec: VGGSpec) -> None:
    """Four lines between the five conv stages and one before the FC head: none before the
    first box, after the last or across a box, each midway between the boxes either side;
    each stage's label stands over its own boxes."""
    ax = draw_layer_stack(spec)
    lines = sorted(line.get_xdata()[0] for line in ax.lines)
    drawn = sorted((p for p in ax.patches if isinstance(p, Rectangle)), key=lambda r: r.get_x())
    labels = sorted(t.get_position()[0] for t in ax.texts if t.get_rotation() == 0)
    plt.close(ax.figure)
    assert len(lines) == 5
    assert drawn[0].get_x() < lines[0] and lines[-1] < drawn[-1].get_x()
    for x in lines:
        assert not any(b.get_x() <= x <= b.get_x() + b.get_width() for b in drawn)
        before = max(b.get_x() + b.get_width() for b in drawn if b.get_x() < x)
        after = min(b.get_x() for b in drawn if b.get_x() > x)
        assert x == pytest.approx((before + after) / 2)
    bounds = [-math.inf, *lines, math.inf]
    assert len(labels) == len(bounds) - 1
    for label, lo, hi in zip(labels, bounds, bounds[1:], strict=False):
        stage = [b for b in drawn if lo < b.get_x() < hi]
        assert stage[0].get_x() < label < stage[-1].get_x() + stage[-1].get_width()


def test_box_widths_grow_with_log2_of_channels_and_sit_a_fixed_gap_apart() -> None:
    """A box of c channels is 0.45 + 0.12 log2(c / 64 + 1) wide (pools 0.35); boxes sit 0.12
    apart within a stage and 0.12 + 0.9 apart across a stage boundary."""
    drawn, _ = boxes(VGGSpec("A", resolution=32))

    def w(c: int) -> float:
        return 0.45 + 0.12 * math.log2(c / 64 + 1)

    pool = 0.35
    expected = [w(64), pool, w(128), pool, w(256), w(256), pool, w(512), w(512), pool]
    expected += [w(512), w(512), pool, w(4096), w(4096), w(1000), w(1000)]  # FCs, soft-max
    assert [b.get_width() for b in drawn] == pytest.approx(expected)
    assert drawn[0].get_width() == pytest.approx(0.57)
    pairs = zip(drawn, drawn[1:], strict=False)
    gaps = [b.get_x() - (a.get_x() + a.get_width()) for a, b in pairs]
    after_pool = [0.12 + 0.9 if i in (1, 3, 6, 9, 12) else 0.12 for i in range(len(gaps))]
    assert gaps == pytest.approx(after_pool)


@pytest.mark.parametrize(
    "spec, legend",
    [
        (VGGSpec("A", resolution=32), ["conv3", "maxpool", "FC", "soft-max"]),
        (VGGSpec("A-LRN", resolution=32), ["conv3", "LRN", "maxpool", "FC", "soft-max"]),
        (
            VGGSpec("A", batch_norm=True, resolution=32),
            ["conv3", "BN", "maxpool", "FC", "soft-max"],
        ),
    ],
    ids=["A", "A-LRN", "A-BN"],
)
def test_the_legend_names_only_the_kinds_drawn_and_stages_name_their_map_side(
    spec: VGGSpec, legend: list[str]
) -> None:
    ax = draw_layer_stack(spec)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    texts = [t.get_text() for t in ax.texts]
    title = ax.get_title(loc="left")
    plt.close(ax.figure)
    assert labels == legend
    assert title == f"VGG {spec.config}, 32×32 input"
    for stage, side in ((2, 16), (3, 8), (4, 4), (5, 2)):
        assert f"stage {stage}\n{side}×{side}" in texts


def test_it_draws_on_the_axes_it_is_given_and_keeps_every_label_in_view() -> None:
    """The book passes its own axes; every box lies inside the axes' limits and every label
    (stage names above, rotated layer names below) inside the axes, so nothing is clipped
    (B-5x5 at 64 px: 5x5 convs, a non-paper size)."""
    fig, given = plt.subplots(figsize=(10, 4.5))
    ax = draw_layer_stack(VGGSpec("B-5x5", resolution=64), given)
    assert ax is given and len(fig.axes) == 1
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    drawn = sorted((p for p in ax.patches if isinstance(p, Rectangle)), key=lambda r: r.get_x())
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    labels = [t.get_window_extent(renderer) for t in ax.texts]
    plt.close(fig)
    assert len(drawn) == 5 + 5 + 3 + 1
    assert to_hex(drawn[0].get_facecolor()) == COLOURS["conv5"]
    for box in drawn:
        assert x0 <= box.get_x() and box.get_x() + box.get_width() <= x1
        assert y0 <= box.get_y() and box.get_y() + box.get_height() <= y1
    assert len(labels) == len(drawn) + 6  # a name per box, six stage labels
    for label in labels:
        assert frame.x0 <= label.x0 and label.x1 <= frame.x1
        assert frame.y0 <= label.y0 and label.y1 <= frame.y1


def test_each_layer_name_sits_under_the_middle_of_its_box() -> None:
    """The rotated names read left to right as the boxes do, each centred under its box and
    below it; C's 1x1 convs get their own colour."""
    spec = VGGSpec("C", resolution=32)
    ax = draw_layer_stack(spec)
    drawn = sorted((p for p in ax.patches if isinstance(p, Rectangle)), key=lambda r: r.get_x())
    names = sorted((t for t in ax.texts if t.get_rotation() == 90), key=lambda t: t.get_position())
    plt.close(ax.figure)
    assert [t.get_text() for t in names] == [name for _, name, _ in walk(spec)] + ["soft-max"]
    for box, name in zip(drawn, names, strict=True):
        x, y = name.get_position()
        assert x == pytest.approx(box.get_x() + box.get_width() / 2)
        assert y < box.get_y()
    colours = [to_hex(b.get_facecolor()) for b in drawn]
    assert colours.count(COLOURS["conv1"]) == 3
