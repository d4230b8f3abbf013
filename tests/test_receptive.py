"""Receptive fields: the analytic rule against autograd, and 3x3 stacks against large filters."""

import logging
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from vggrepro.analysis import receptive
from vggrepro.arch.configs import VGGSpec
from vggrepro.arch.models import build


def geometry(config: str, **fields) -> tuple[VGGSpec, nn.Sequential]:
    """A spec and the ``features`` of a narrow model with the same geometry."""
    spec = VGGSpec(config, width=1 / 64, fc_width=8, **fields)
    return spec, build(spec).features


@pytest.mark.parametrize("config", ["A", "A-LRN", "B", "C", "D", "E", "B-5x5"])
def test_analytic_equals_empirical_for_every_conv_and_pool(config):
    table = receptive.compare_fields(*geometry(config))
    n_layers = sum(ly.kind in ("conv", "maxpool") for ly in VGGSpec(config).features())
    assert len(table) == n_layers
    assert (table["rf"] == table["empirical_height"]).all()
    assert (table["rf"] == table["empirical_width"]).all()


def test_empirical_matches_with_batch_norm_and_odd_input():
    """BN shifts the Sequential indices; an odd resolution changes nothing in the field."""
    table = receptive.compare_fields(*geometry("D", batch_norm=True, resolution=97))
    assert table["match"].all()


def test_gradient_is_positive_on_a_square_and_peaks_in_the_centre():
    spec, features = geometry("D")
    pool3 = receptive.receptive_fields(spec).set_index("name").loc["pool3"]
    field = receptive.empirical_receptive_field(features, int(pool3["index"]))
    g = field.grad
    rows, cols = np.flatnonzero(g.any(axis=1)), np.flatnonzero(g.any(axis=0))
    box = g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    assert box.shape == (pool3["rf"], pool3["rf"])
    assert (box > 0).all()
    assert field.input_size > pool3["rf"]
    centre = box[box.shape[0] // 2, box.shape[1] // 2]
    assert centre == box.max() > box[0, 0]


def test_jump_is_the_downsampling_factor():
    spec = VGGSpec("E")
    fields = receptive.receptive_fields(spec)
    assert list(fields.columns) == ["part", "index", "name", "layer", "kind", "out_shape", "rf",
                                    "jump"]  # fmt: skip
    features = fields[fields["part"] == "features"]
    side = features["out_shape"].map(lambda s: s[1])
    assert (features["jump"] * side == spec.resolution).all()
    assert features["rf"].is_monotonic_increasing


def stack(n: int, channels: int, kernel: int = 3) -> nn.Sequential:
    """n bias-free 'same' convs with C in and out channels, each followed by a ReLU."""
    layers = []
    for _ in range(n):
        layers += [
            nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False),
            nn.ReLU(),
        ]
    return nn.Sequential(*layers)


def macs_per_position(model: nn.Sequential, channels: int, side: int = 8) -> float:
    """fvcore's count for a side x side input, divided by the output positions."""
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's import uses deprecated torch.jit APIs
        from fvcore.nn import FlopCountAnalysis

        flops = FlopCountAnalysis(model, torch.zeros(1, channels, side, side))
        flops.unsupported_ops_warnings(False)
        return flops.total() / side**2


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_stack_vs_single_against_torch_layers(n):
    c = 4
    row = receptive.stack_vs_single(n, c)
    many, one = stack(n, c), stack(1, c, kernel=2 * n + 1)
    last_conv = 2 * n - 2
    assert row["rf_stack"] == receptive.empirical_receptive_field(many, last_conv).height
    assert row["rf_single"] == receptive.empirical_receptive_field(one, 0).height
    assert row["weights_stack"] == sum(p.numel() for p in many.parameters())
    assert row["weights_single"] == sum(p.numel() for p in one.parameters())
    assert row["macs_per_position_stack"] == macs_per_position(many, c)
    assert row["macs_per_position_single"] == macs_per_position(one, c)
    assert row["relus_stack"] == sum(isinstance(m, nn.ReLU) for m in many)
    assert row["relus_single"] == sum(isinstance(m, nn.ReLU) for m in one)


def test_two_3x3_layers_see_5x5_with_fewer_weights_and_one_more_relu():
    row = receptive.stack_vs_single(2, 1)
    per_pair_3x3 = nn.Conv2d(1, 1, 3, bias=False).weight.numel()
    per_pair_5x5 = nn.Conv2d(1, 1, 5, bias=False).weight.numel()
    assert row["rf_stack"] == row["rf_single"] == 5
    assert row["weights_per_pair_stack"] == 2 * per_pair_3x3 < row["weights_per_pair_single"]
    assert row["weights_per_pair_single"] == per_pair_5x5
    assert row["relus_stack"] == row["relus_single"] + 1


def test_three_3x3_layers_against_one_7x7_per_channel_pair() -> None:
    """The paper's 3 (3^2 C^2) = 27 C^2 weights against 7^2 C^2 = 49 C^2, at any C (here 5)."""
    row = receptive.stack_vs_single(3, 5)
    assert (row["single_kernel"], row["rf_stack"], row["rf_single"]) == (7, 7, 7)
    assert (row["weights_per_pair_stack"], row["weights_per_pair_single"]) == (27, 49)
    assert (row["weights_stack"], row["weights_single"]) == (27 * 25, 49 * 25)
    assert row["weight_ratio"] == pytest.approx(27 / 49)


def test_stack_table_defaults_to_one_to_four_layers_of_512_channels():
    table = receptive.stack_table()
    assert list(table.index) == [1, 2, 3, 4]
    assert table.loc[4, "rf_stack"] == 9 and table.loc[4, "weights_stack"] == 4 * 9 * 512**2


def test_stack_table_ratio_falls_with_depth():
    table = receptive.stack_table(range(1, 5), channels=8)
    assert (table["channels"] == 8).all()
    assert table.loc[1, "weight_ratio"] == 1.0
    assert table["weight_ratio"].is_monotonic_decreasing
    assert (table["rf_stack"] == table["rf_single"]).all()


def test_measuring_a_field_puts_back_the_thread_count() -> None:
    """The probe runs on one thread; the caller's thread count is restored afterwards."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        _, features = geometry("A")
        receptive.empirical_receptive_field(features, 0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_a_field_matches_only_if_both_its_height_and_width_do() -> None:
    """Give A's first conv a 3 x 5 kernel (5 columns): its measured field is 3 high and 5 wide,
    so the analytic 3 matches the height but not the width, and the layer does not match;
    the layers after it are wider still, the pool right after it 4 x 6."""
    spec, features = geometry("A")
    conv = features[0]
    features[0] = nn.Conv2d(conv.in_channels, conv.out_channels, (3, 5), padding=(1, 2))
    table = receptive.compare_fields(spec, features)
    first, pool = table.iloc[0], table.iloc[1]
    assert (first["rf"], first["empirical_height"], first["empirical_width"]) == (3, 3, 5)
    assert (pool["rf"], pool["empirical_height"], pool["empirical_width"]) == (4, 4, 6)
    assert not table["match"].any()
    field = receptive.empirical_receptive_field(features, 3)
    assert (field.index, field.height, field.width) == (3, 8, 10)  # conv2_1: 4 + 2 * jump 2


def test_a_field_is_measured_on_32_px_doubled_until_it_fits() -> None:
    """D's conv1_1 (3 px field) and conv3_1 (24 px) fit in the default 32 px input, conv3_2
    (32 px) needs 64 and conv4_1 (60 px) 128: the side doubles until the field touches no
    border."""
    spec, features = geometry("D")
    names = receptive.receptive_fields(spec).set_index("name")
    sizes = {}
    for name in ("conv1_1", "conv3_1", "conv3_2", "conv4_1"):
        field = receptive.empirical_receptive_field(features, int(names.loc[name, "index"]))
        assert field.height == names.loc[name, "rf"]
        sizes[name] = field.input_size
    assert sizes == {"conv1_1": 32, "conv3_1": 32, "conv3_2": 64, "conv4_1": 128}
