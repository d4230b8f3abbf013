"""The configurations, the builder, dense conversion, torchvision compatibility, initialisation."""

import pytest
import torch
import torchvision
from torch import nn

from vggrepro.arch.configs import (
    ALIASES,
    CONFIGS,
    TABLE1,
    VGGSpec,
    alias,
    resolve,
    weight_layers,
)
from vggrepro.arch.initialisation import SCHEMES, initialise, warm_start
from vggrepro.arch.models import TORCHVISION_NAMES, build, to_dense, torchvision_name

SMALL = {"num_classes": 10, "resolution": 32, "width": 0.125, "fc_width": 32}


def convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


# Weight layers per configuration, as printed in the paper's Table 1.
@pytest.mark.parametrize(
    "config, layers", [("A", 11), ("A-LRN", 11), ("B", 13), ("C", 16), ("D", 16), ("E", 19)]
)
def test_weight_layers_match_table1(config: str, layers: int) -> None:
    assert weight_layers(config) == layers
    model = build(config, **SMALL)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs(model)) + len(linears) == layers


def test_every_alias_resolves_to_a_config() -> None:
    """Each configuration has one common name, and that name resolves back to it."""
    assert set(ALIASES.values()) == set(CONFIGS)
    assert resolve("vgg16") == "D" and resolve("D") == "D"
    names = {c: alias(c) for c in CONFIGS}
    assert names == {"A": "vgg11", "A-LRN": "vgg11_lrn", "B": "vgg13", "C": "vgg16_1x1",
                     "D": "vgg16", "E": "vgg19", "B-5x5": "vgg13_5x5"}  # fmt: skip
    assert all(resolve(name) == c for c, name in names.items())
    assert all(alias(name) == name and weight_layers(name) == weight_layers(c)
               for c, name in names.items())  # fmt: skip


def test_lrn_only_in_a_lrn_right_after_the_first_relu() -> None:
    for config in TABLE1:
        kinds = [type(m).__name__ for m in build(config, **SMALL).features]
        if config == "A-LRN":
            assert kinds[:4] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"]
        else:
            assert "LocalResponseNorm" not in kinds


def test_lrn_has_alexnets_settings_in_pytorchs_convention() -> None:
    """AlexNet's k = 2, n = 5, alpha = 1e-4, beta = 0.75; PyTorch divides its alpha by n."""
    lrn = build("A-LRN", **SMALL).features[2]
    assert isinstance(lrn, nn.LocalResponseNorm)
    assert (lrn.size, lrn.beta, lrn.k) == (5, 0.75, 2.0)
    assert lrn.alpha / lrn.size == pytest.approx(1e-4)


def test_dropout_follows_the_spec_and_defaults_to_the_papers_half() -> None:
    drops = [m.p for m in build("A", dropout=0.3, **SMALL).classifier if isinstance(m, nn.Dropout)]
    assert drops == [0.3, 0.3]
    assert VGGSpec().dropout == 0.5 and VGGSpec(dropout=0.0).dropout == 0.0


def test_config_c_has_1x1_convs_at_the_end_of_stages_3_to_5() -> None:
    kernels = [c.kernel_size[0] for c in convs(build("C", **SMALL))]
    assert [i for i, k in enumerate(kernels) if k == 1] == [6, 9, 12]


def test_ablation_5x5_replaces_each_pair_of_3x3() -> None:
    b, b5 = build("vgg13", **SMALL), build("vgg13_5x5", **SMALL)
    assert [c.kernel_size for c in convs(b5)] == [(5, 5)] * 5
    assert [c.out_channels for c in convs(b)][1::2] == [c.out_channels for c in convs(b5)]
    assert b5(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("resolution", [32, 64, 100, 224])
def test_first_fc_follows_the_resolution(resolution: int) -> None:
    model = build("A", num_classes=10, resolution=resolution, width=0.125, fc_width=16)
    side = resolution // 32
    assert model.classifier[0].in_features == 64 * side * side
    assert model(torch.zeros(1, 3, resolution, resolution)).shape == (1, 10)


@pytest.mark.parametrize(
    "options, words",
    [
        ({"config": "vgg20"}, ["vgg20", "vgg16", "E"]),
        ({"config": "D", "width": 0.005}, ["width 0.005", "zero channels", "at least 0.015625"]),
        ({"config": "D", "resolution": 31}, ["resolution 31", "at least 32"]),
        ({"config": "D", "num_classes": 0}, ["num_classes", "positive"]),
        ({"config": "D", "fc_width": 0}, ["fc_width"]),
        ({"config": "D", "dropout": 1.0}, ["dropout"]),
        ({"config": "D", "dropout": -0.1}, ["dropout", "[0, 1)"]),
    ],
)
def test_bad_input_names_what_is_valid(options: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        VGGSpec(**options)
    for word in words:
        assert word in str(info.value)


def test_defaults_are_the_papers_imagenet_nets() -> None:
    """Unless told otherwise a spec, and the builder, give the paper's VGG-16 (D): full width,
    no batch norm."""
    spec = VGGSpec()
    shape = (spec.resolution, spec.num_classes, spec.fc_width, spec.final_map)
    assert shape == (224, 1000, 4096, 7)
    assert (spec.config, spec.width, spec.batch_norm) == ("D", 1.0, False)
    assert build(**SMALL).spec == VGGSpec("D", **SMALL)


@pytest.mark.parametrize("config, resolution", [("A", 32), ("D", 64), ("C", 96)])
def test_dense_net_equals_fc_net_at_training_size(config: str, resolution: int) -> None:
    torch.manual_seed(0)
    model = build(config, num_classes=10, resolution=resolution, width=0.125, fc_width=32).eval()
    dense = to_dense(model).eval()
    x = torch.randn(3, 3, resolution, resolution)
    with torch.no_grad():
        assert dense.score_map(x).shape == (3, 10, 1, 1)
        torch.testing.assert_close(dense(x), model(x), rtol=1e-5, atol=1e-6)


def test_dense_head_lives_where_the_fc_head_lives() -> None:
    # The evaluation builds the dense net from a trained net on the GPU; its new conv layers
    # must follow the FC layers' device and dtype (float64 stands in for another device here).
    model = build("A", num_classes=10, resolution=32, width=0.125, fc_width=32).double()
    dense = to_dense(model)
    assert {p.dtype for p in dense.head.parameters()} == {torch.float64}
    assert dense(torch.randn(1, 3, 32, 32, dtype=torch.float64)).shape == (1, 10)


def test_dense_net_gives_a_score_map_on_larger_input() -> None:
    torch.manual_seed(0)
    model = build("B", num_classes=10, resolution=64, width=0.125, fc_width=32).eval()
    dense = to_dense(model).eval()
    with torch.no_grad():
        scores = dense.score_map(torch.randn(1, 3, 128, 160))
    # Last feature map is 4 x 5; a 2 x 2 convolution leaves 3 x 4 positions.
    assert scores.shape == (1, 10, 3, 4)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(dense(x), dense.score_map(x).mean(dim=(2, 3)))


@pytest.mark.slow
@pytest.mark.parametrize("config", list(TORCHVISION_NAMES))
@pytest.mark.parametrize("batch_norm", [False, True])
def test_torchvision_state_dicts_load_both_ways(config: str, batch_norm: bool) -> None:
    torch.manual_seed(0)
    ours = build(config, batch_norm=batch_norm).eval()
    name = torchvision_name(ours.spec)
    theirs = getattr(torchvision.models, name)(weights=None).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
    initialise(ours, "kaiming")
    theirs.load_state_dict(ours.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_torchvision_has_no_c_or_lrn() -> None:
    for config in ("A-LRN", "C"):
        with pytest.raises(
            ValueError, match="^torchvision has no configuration .*; it has A, B, D, E$"
        ):
            torchvision_name(VGGSpec(config))


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_initialisation_zeroes_biases_and_is_seeded(scheme: str) -> None:
    torch.manual_seed(1)
    a = initialise(build("B", **SMALL), scheme)
    torch.manual_seed(1)
    b = initialise(build("B", **SMALL), scheme)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert all(torch.count_nonzero(m.bias) == 0 for m in a.modules() if hasattr(m, "bias"))


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_initialisation_starts_batch_norm_as_the_identity(scheme: str) -> None:
    """Every scheme resets a batch-norm layer to scale 1 and shift 0, whatever it held: a
    zero scale would silence every channel after it."""
    net = build("A", **{**SMALL, "batch_norm": True})
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in norms:
            m.weight.fill_(3.0)
            m.bias.fill_(2.0)
    initialise(net, scheme)
    assert len(norms) == 8
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in norms)
    assert all(torch.count_nonzero(m.bias) == 0 for m in norms)


def test_initialisation_scales() -> None:
    torch.manual_seed(0)
    model = build("D", width=0.5)  # big layers: sample statistics are tight
    conv = convs(model)[5]
    fan_in = conv.in_channels * 9
    expected_std = {"paper": 1e-2, "paper_literal": 1e-1, "kaiming": (2 / fan_in) ** 0.5}
    for scheme, std in expected_std.items():
        initialise(model, scheme)
        assert conv.weight.std().item() == pytest.approx(std, rel=0.02)
    # Kaiming's std comes from the fan-in: a layer whose outputs double its inputs tells
    # fan-in from fan-out (the layer above has as many of each).
    widening = convs(model)[4]
    assert widening.out_channels == 2 * widening.in_channels
    initialise(model, "kaiming")
    assert widening.weight.std().item() == pytest.approx(
        (2 / (widening.in_channels * 9)) ** 0.5, rel=0.02
    )
    initialise(model, "glorot")
    bound = (6 / (fan_in + conv.out_channels * 9)) ** 0.5
    assert conv.weight.abs().max().item() <= bound
    assert conv.weight.abs().max().item() > 0.95 * bound


def test_a_width_rounds_channels_to_the_nearest_count() -> None:
    spec = VGGSpec("A", width=0.7)
    assert spec.channels(64) == 45 and spec.channels(512) == 358  # 44.8 and 358.4
    assert [m.out_channels for m in convs(build(spec))][:2] == [45, 90]  # 44.8, 89.6


def test_unknown_initialisation_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="glorot"):
        initialise(build("A", **SMALL), "xavier")


def test_warm_start_copies_the_first_four_convs_and_the_fc_layers_of_a() -> None:
    torch.manual_seed(0)
    source = initialise(build("A", **SMALL), "kaiming")
    with torch.no_grad():  # trained biases are not zero, as initialised ones are
        for name, tensor in source.named_parameters():
            if name.endswith("bias"):
                tensor.normal_()
    target = initialise(build("E", **SMALL), "paper")
    before = {k: v.clone() for k, v in target.state_dict().items()}
    copied = warm_start(target, source)
    assert len(copied) == 7
    src_convs, dst_convs = convs(source), convs(target)
    # A's first four convs are stage 1, stage 2 and both of stage 3; in E they sit at
    # positions 0, 2, 4 and 5 (stage 1 and 2 have two convs each).
    for s, d in zip(src_convs[:4], [dst_convs[i] for i in (0, 2, 4, 5)], strict=True):
        assert torch.equal(s.weight, d.weight) and torch.equal(s.bias, d.bias)
    assert copied[:4] == [f"features.{i}" for i in (0, 5, 10, 12)]
    for i in (1, 3, 6, 15):
        assert torch.equal(dst_convs[i].weight, before[_key(target, dst_convs[i])])
    src_fc = [m for m in source.classifier if isinstance(m, nn.Linear)]
    dst_fc = [m for m in target.classifier if isinstance(m, nn.Linear)]
    for s, d in zip(src_fc, dst_fc, strict=True):
        assert torch.equal(s.weight, d.weight) and torch.equal(s.bias, d.bias)


def _key(model: nn.Module, module: nn.Module) -> str:
    return next(f"{n}.weight" for n, m in model.named_modules() if m is module)


def test_warm_start_refuses_mismatched_widths() -> None:
    source = build("A", **{**SMALL, "width": 0.25})
    with pytest.raises(ValueError, match="same width"):
        warm_start(build("E", **SMALL), source)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_the_torchvision_name_of_a_spec_says_batch_norm(batch_norm: bool) -> None:
    name = torchvision_name(VGGSpec("D", batch_norm=batch_norm))
    assert name == ("vgg16_bn" if batch_norm else "vgg16")


def test_the_narrowest_width_keeps_one_channel_in_the_first_layer() -> None:
    """A width of 1/64 rounds the 64-channel layers to exactly one channel, which is allowed;
    1/200 rounds them to none (0.32), which is not."""
    spec = VGGSpec("A", width=1 / 64)
    assert spec.channels(64) == 1 and spec.channels(512) == 8
    assert (
        convs(build("A", num_classes=10, resolution=32, width=1 / 64, fc_width=8))[0].out_channels
        == 1
    )
    with pytest.raises(ValueError, match="zero channels"):
        VGGSpec("A", width=1 / 200)


def test_warm_start_copies_as_many_convs_as_asked_and_names_the_fc_layers() -> None:
    """With ``n_conv=2`` only A's first conv of stages 1 and 2 are copied: in D they are
    features.0 and features.5 (conv, ReLU, conv, ReLU, pool before stage 2); the FC layers are
    classifier.0, .3 and .6 (each followed by ReLU and dropout)."""
    torch.manual_seed(0)
    source, target = build("A", **SMALL), build("D", **SMALL)
    before = convs(target)[1].weight.clone()
    copied = warm_start(target, source, n_conv=2)
    assert copied == ["features.0", "features.5", "classifier.0", "classifier.3", "classifier.6"]
    assert torch.equal(convs(target)[2].weight, convs(source)[1].weight)
    assert torch.equal(convs(target)[1].weight, before)  # stage 1's second conv: not A's
    assert not torch.equal(convs(target)[4].weight, convs(source)[2].weight)  # not asked for


def test_warm_start_from_a_deeper_net_names_the_missing_layer() -> None:
    """E's second conv of stage 1 has no counterpart in A, which has one conv there."""
    with pytest.raises(ValueError, match="no counterpart"):
        warm_start(build("A", **SMALL), build("E", **SMALL), n_conv=2)


def test_the_last_map_rounds_down_like_the_pools_do() -> None:
    """At 56 px the five 2x2 pools leave 28, 14, 7, 3 and 1 px (each floors an odd side): the
    classifier's first layer takes one position per channel, and a forward pass fits it."""
    spec = VGGSpec("A", num_classes=10, resolution=56, width=1 / 16, fc_width=8)
    assert spec.final_map == 1
    net = build(spec)
    first_fc = next(m for m in net.modules() if isinstance(m, torch.nn.Linear))
    assert first_fc.in_features == spec.final_channels
    assert net(torch.zeros(2, 3, 56, 56)).shape == (2, 10)


def test_the_smallest_valid_net_builds_and_scores_its_one_class() -> None:
    """Every field at its limit is accepted: one class, one FC unit, 32 px (five pools to one
    pixel), no dropout and a width that leaves one channel in the first stage."""
    spec = VGGSpec("A", num_classes=1, fc_width=1, resolution=32, width=1 / 64, dropout=0.0)
    net = build(spec)
    assert [m.out_features for m in net.classifier if isinstance(m, nn.Linear)] == [1, 1, 1]
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 1)
