"""The analytic cost table against torchinfo, fvcore, torchvision, the paper and a forward pass."""

import subprocess
import sys

import pytest
import torch
import torchvision

from vggrepro.analysis import cost
from vggrepro.arch.configs import TABLE1, VGGSpec
from vggrepro.arch.models import TORCHVISION_NAMES, build, torchvision_name
from vggrepro.reference import PUBLISHED

SIX = list(TABLE1)
REDUCED = [
    {"width": 0.25, "fc_width": 512, "resolution": 32, "num_classes": 10, "batch_norm": False},
    {"width": 0.5, "fc_width": 512, "resolution": 32, "num_classes": 10, "batch_norm": True},
]


def assert_matches_measured(spec: VGGSpec, batch: int) -> None:
    """Totals and every leaf layer agree with torchinfo and fvcore, and the totals with torch's
    own flop counter, conventions matched."""
    table = cost.layer_table(spec, batch)
    measured = cost.measured_counts(spec, batch)
    assert measured.total_params == table["params"].sum()
    assert measured.torchinfo_mult_adds == cost.torchinfo_mult_adds(spec, batch)
    assert measured.fvcore_flops == cost.fvcore_flops(spec, batch)
    assert measured.torch_flops == cost.torch_flops(spec, batch) == 2 * table["macs"].sum()
    both = table.merge(measured.layers, on=["part", "index"], suffixes=("", "_measured"))
    assert len(both) == len(table) == len(measured.layers)
    assert (both["params"] == both["torchinfo_params"]).all()
    assert (both["torchinfo_mult_adds"] == both["torchinfo_mult_adds_measured"]).all()
    assert (both["fvcore_flops"] == both["fvcore_flops_measured"]).all()
    # The plain MAC count differs from both libraries' totals only by their documented extras.
    assert table["macs"].sum() + table["bias_adds"].sum() <= measured.torchinfo_mult_adds
    if not spec.batch_norm:
        assert table["macs"].sum() == measured.fvcore_flops


@pytest.mark.parametrize("fields", REDUCED, ids=["w0.25", "w0.5-bn"])
@pytest.mark.parametrize("config", SIX)
def test_reduced_nets_match_torchinfo_and_fvcore(config, fields):
    assert_matches_measured(VGGSpec(config, **fields), batch=2)


@pytest.mark.slow
@pytest.mark.parametrize("config", SIX)
def test_full_size_nets_match_torchinfo_and_fvcore(config):
    assert_matches_measured(VGGSpec(config), batch=1)


def test_params_round_to_paper_table2():
    table = cost.config_table()
    paper = PUBLISHED["paper_mparams"]
    assert list(table.index) == list(paper)
    for config, row in table.iterrows():
        assert round(row["params"] / 1e6) == paper[config] == row["paper_params_M"]


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("config", list(TORCHVISION_NAMES))
def test_params_and_macs_equal_torchvision(config, batch_norm):
    spec = VGGSpec(config, batch_norm=batch_norm)
    name = torchvision_name(spec)
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        tv = getattr(torchvision.models, name)(weights=None)
    tv_params = sum(p.numel() for p in tv.parameters())
    totals = cost.totals(spec)
    assert totals["params"] == tv_params == PUBLISHED["torchvision_params"][name]
    assert round(totals["macs"] / 1e9, 3) == PUBLISHED["torchvision_gmacs"][name]


def test_config_table_fills_references_only_for_published_shapes():
    small = cost.config_table(resolution=32, num_classes=10)
    assert small[["paper_params_M", "torchvision_params", "torchvision_gmacs"]].isna().all().all()
    for other in ({"width": 0.5}, {"fc_width": 512}, {"num_classes": 10}, {"resolution": 256}):
        table = cost.config_table(**other)
        published = ["paper_params_M", "torchvision_params", "torchvision_gmacs"]
        assert table[published].isna().all().all(), other
    bn = cost.config_table(batch_norm=True)
    assert bn["paper_params_M"].isna().all()
    assert bn.loc["D", "torchvision_params"] == PUBLISHED["torchvision_params"]["vgg16_bn"]


@pytest.mark.parametrize("config", SIX)
def test_fc_holds_most_parameters_but_little_computation(config):
    t = cost.totals(VGGSpec(config))
    assert t["fc_param_share"] > 0.5 > t["fc_mac_share"]
    assert t["fc_param_share"] > t["conv_param_share"]
    assert t["fc_mac_share"] < t["conv_mac_share"]
    assert t["fc_params"] + t["conv_params"] == t["params"]
    assert t["fc_macs"] + t["conv_macs"] == t["macs"]


@pytest.mark.parametrize(("config", "resolution", "bn"), [("A-LRN", 97, False), ("C", 75, True)])
def test_shapes_and_activations_match_a_forward_pass(config, resolution, bn):
    """Odd sizes exercise max-pool's floor rounding."""
    spec = VGGSpec(config, width=0.125, fc_width=32, resolution=resolution, batch_norm=bn)
    model = build(spec).eval()
    shapes = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
        for part in (model.features, model.classifier)
        for m in part
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, resolution, resolution))
    for h in hooks:
        h.remove()
    table = cost.layer_table(spec)
    expected = [s if len(s) == 3 else (s[0], 1, 1) for s in shapes]
    assert list(table["out_shape"]) == expected
    assert list(table["activations"]) == [torch.Size(s).numel() for s in shapes]


def test_layer_table_shapes_follow_the_paper_rules():
    """Conv3 with padding 1 keeps the size, each pool halves it, 224x224x3 in, FC 4096-4096-1000."""
    table = cost.layer_table(VGGSpec("D"))
    side = 224
    for _, row in table[table["part"] == "features"].iterrows():
        if row["kind"] == "maxpool":
            side //= 2
        assert row["out_shape"][1:] == (side, side)
    fc = table[table["kind"] == "fc"]
    assert [s[0] for s in fc["out_shape"]] == [4096, 4096, 1000]
    assert fc["name"].tolist() == ["fc6", "fc7", "fc8"]
    assert table["name"].is_unique


def test_batch_and_bytes_scale_linearly():
    spec = VGGSpec("A", width=0.25, resolution=64)
    one, four = cost.layer_table(spec), cost.layer_table(spec, batch=4, bytes_per_value=2)
    assert (four["macs"] == 4 * one["macs"]).all()
    assert (four["params"] == one["params"]).all()
    assert (four["activations"] == one["activations"]).all()
    assert (four["act_bytes"] == 4 * 2 * one["activations"]).all()


def test_importable_without_torchinfo_and_fvcore():
    code = (
        "import sys; sys.modules['torchinfo'] = None; sys.modules['fvcore'] = None\n"
        "from vggrepro.analysis import cost, receptive\n"
        "print(cost.config_table().loc['D', 'params'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == cost.totals(VGGSpec("D"))["params"]


def test_every_per_batch_count_scales_with_the_batch() -> None:
    """macs, bias additions, fvcore's and torchinfo's counts are for the whole batch;
    parameters and per-image activations are not."""
    spec = VGGSpec("A", batch_norm=True, resolution=32, num_classes=10, width=0.25)
    one, three = cost.layer_table(spec), cost.layer_table(spec, batch=3)
    for column in ("macs", "bias_adds", "fvcore_flops", "torchinfo_mult_adds", "act_bytes"):
        assert (three[column] == 3 * one[column]).all(), column
        assert one[column].sum() > 0, column
    for column in ("params", "activations"):
        assert (three[column] == one[column]).all(), column


def test_training_costs_follow_the_mac_counts_and_the_peak() -> None:
    costs = cost.training_costs(epochs=74, peak_flops=1e15, mfu=0.5, images=2e6)
    d = costs.loc["D (vgg16)"]
    flops = 6 * cost.totals(VGGSpec("D"))["macs"] * 2e6 * 74  # forward + backward
    assert d["EFLOPs per run"] == pytest.approx(flops / 1e18)
    assert d["GPU-hours at peak"] == pytest.approx(flops / 1e15 / 3600)
    assert d["GPU-hours at measured MFU"] == pytest.approx(2 * d["GPU-hours at peak"])
    assert list(costs.index)[0] == "A (vgg11)" and len(costs) == len(TABLE1)
    assert cost.training_costs(74, 1e15)["GPU-hours at measured MFU"].isna().all()
    assert cost.gpu_hours(4, 2) == 4 * 2 * 7 * 24
    macs = cost.totals(VGGSpec("D"))["macs"]
    assert d["GMACs per image"] == pytest.approx(macs / 1e9)
    assert d["training TFLOPs per image"] == pytest.approx(6 * macs / 1e12)
    assert d["PFLOPs per epoch"] == pytest.approx(6 * macs * 2e6 / 1e15)
    assert "A-LRN" in costs.index[1]
    default = cost.training_costs(epochs=1, peak_flops=1e15).loc["D (vgg16)"]
    assert default["PFLOPs per epoch"] == pytest.approx(6 * macs * 1e6 / 1e15)  # 10^6 images


def test_the_stored_activations_of_d_are_every_conv_pool_and_fc_output() -> None:
    """VGG-16 at 224 px keeps each conv output (its ReLU runs in place), each pooled map and
    each FC output; the input image and the ReLUs are not counted."""
    convs = 2 * 224**2 * 64 + 2 * 112**2 * 128 + 3 * 56**2 * 256 + 3 * (28**2 + 14**2) * 512
    pools = 112**2 * 64 + 56**2 * 128 + 28**2 * 256 + (14**2 + 7**2) * 512
    assert cost.totals(VGGSpec("D"))["activations"] == convs + pools + 4096 + 4096 + 1000
    bn = cost.totals(VGGSpec("D", batch_norm=True))["activations"]
    assert bn == cost.totals(VGGSpec("D"))["activations"] + convs  # batch norm stores its own
    # A-LRN stores its LRN's output too: one more 64-channel map at full resolution.
    lrn = cost.totals(VGGSpec("A-LRN"))["activations"]
    assert lrn == cost.totals(VGGSpec("A"))["activations"] + 64 * 224**2


def test_the_fc_layers_see_the_whole_last_map() -> None:
    """fc6 reads pool5's map as one convolution covering it. D's pool5 units see 212 px,
    32 px apart (1 + 2 * 2, +1, * 2; ...), so at 224 px (a 7 x 7 map) fc6 sees
    212 + 6 * 32 = 404 px, and at 97 px (3 x 3) 212 + 2 * 32 = 276; the 1 x 1 fc7 and fc8 add
    nothing."""
    for resolution, rf in ((224, 404), (97, 276)):
        table = cost.layer_table(VGGSpec("D", resolution=resolution)).set_index("name")
        assert (table.loc["pool5", "rf"], table.loc["pool5", "jump"]) == (212, 32)
        assert list(table.loc[["fc6", "fc7", "fc8"], "rf"]) == [rf] * 3
        assert list(table.loc[["fc6", "fc7", "fc8"], "jump"]) == [32] * 3


def test_the_shares_split_ds_totals_between_the_conv_part_and_the_fc_head() -> None:
    """VGG-16's FC head and conv part counted by hand: FC 25088-4096-4096-1000 (7 * 7 * 512
    inputs), and 3 x 3 convs at 224, 112, 56, 28 and 14 px."""
    fc_macs = 7 * 7 * 512 * 4096 + 4096 * 4096 + 4096 * 1000
    fc_params = fc_macs + 4096 + 4096 + 1000
    pairs = [(224, [(3, 64), (64, 64)]), (112, [(64, 128), (128, 128)]),
             (56, [(128, 256)] + [(256, 256)] * 2), (28, [(256, 512)] + [(512, 512)] * 2),
             (14, [(512, 512)] * 3)]  # fmt: skip
    conv_macs = sum(side**2 * 9 * cin * cout for side, layers in pairs for cin, cout in layers)
    t = cost.totals(VGGSpec("D"))
    assert (t["fc_params"], t["fc_macs"], t["conv_macs"]) == (fc_params, fc_macs, conv_macs)
    macs = fc_macs + conv_macs
    assert t["fc_param_share"] == pytest.approx(fc_params / t["params"])
    assert t["conv_param_share"] == pytest.approx(1 - fc_params / t["params"])
    assert t["fc_mac_share"] == pytest.approx(fc_macs / macs)
    assert t["conv_mac_share"] == pytest.approx(conv_macs / macs)


def test_config_table_gives_each_nets_depth_and_size_in_millions_and_billions() -> None:
    table = cost.config_table(["vgg16", "A"])
    assert list(table.index) == ["D", "A"]
    assert list(table["weight_layers"]) == [16, 11]
    for config, row in table.iterrows():
        t = cost.totals(VGGSpec(config))
        assert row["params_M"] == pytest.approx(t["params"] / 1e6)
        assert row["gmacs"] == pytest.approx(t["macs"] / 1e9)
        assert round(row["gmacs"], 3) == row["torchvision_gmacs"]
        assert row["fc_mac_share"] == pytest.approx(t["fc_mac_share"])
        assert row["fc_param_share"] == pytest.approx(t["fc_param_share"])
        assert (row["params"], row["macs"], row["activations"]) == (
            t["params"],
            t["macs"],
            t["activations"],
        )


def test_the_quoted_figures_are_the_papers_and_the_datasheets() -> None:
    """Table 3 (scale 256) of Simonyan & Zisserman; the H100/H200 dense bf16 peak, half the
    datasheet's 1,979 TFLOPS with sparsity."""
    from vggrepro.reference import PAPER_TABLE3, PEAK_TFLOPS

    assert PAPER_TABLE3 == {
        "A": (29.6, 10.4), "A-LRN": (29.7, 10.5), "B": (28.7, 9.9),
        "C": (28.1, 9.4), "D": (27.0, 8.8), "E": (27.3, 9.0),
    }  # fmt: skip
    assert dict(PEAK_TFLOPS) == {"H200": 989.5, "H100 80GB HBM3": 989.5, "H100 SXM": 989.5}


def test_the_layer_names_follow_caffes_and_bytes_default_to_float32() -> None:
    """A-LRN's first stage is conv1_1, relu1_1, lrn1, pool1; the head fc6, relu6, drop6, fc7,
    relu7, drop7, fc8. Activations are 4-byte floats unless told otherwise."""
    spec = VGGSpec("A-LRN", batch_norm=True, resolution=64, num_classes=10, width=0.25)
    table = cost.layer_table(spec)
    assert list(table["name"][:5]) == ["conv1_1", "bn1_1", "relu1_1", "lrn1", "pool1"]
    assert list(table["name"][5:8]) == ["conv2_1", "bn2_1", "relu2_1"]
    head = table[table["part"] == "classifier"]
    assert list(head["name"]) == ["fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"]
    assert list(head["layer"]) == ["FC-4096", "relu", "dropout"] * 2 + ["FC-10"]
    assert (table["act_bytes"] == 4 * table["activations"]).all()
    # Each layer reads what the one before it wrote, starting from the 3-channel image; fc6
    # reads pool5's 128 x 2 x 2 map, fc7 and fc8 a vector.
    assert table["in_shape"].iloc[0] == (3, 64, 64)
    assert list(head["in_shape"][::3]) == [(128, 2, 2), (4096, 1, 1), (4096, 1, 1)]
    assert list(table["in_shape"][1:]) == list(table["out_shape"][:-1])


def test_bias_additions_are_one_per_output_element_of_conv_and_fc() -> None:
    """A at 32 px, quarter width, batch 2: conv outputs 16 x 32^2, 32 x 16^2, 2 x 64 x 8^2,
    2 x 128 x 4^2, 2 x 128 x 2^2; FC outputs 512, 512, 10; nothing else adds a bias."""
    spec = VGGSpec("A", width=0.25, fc_width=512, resolution=32, num_classes=10)
    table = cost.layer_table(spec, batch=2)
    conv = 16 * 32**2 + 32 * 16**2 + 2 * 64 * 8**2 + 2 * 128 * 4**2 + 2 * 128 * 2**2
    assert table["bias_adds"].sum() == 2 * (conv + 512 + 512 + 10)
    assert (table.loc[~table["kind"].isin(["conv", "fc"]), "bias_adds"] == 0).all()


def test_the_totals_count_one_image_unless_told() -> None:
    spec = VGGSpec("A", width=0.25, fc_width=512, resolution=32, num_classes=10, batch_norm=True)
    one = cost.layer_table(spec, batch=1)
    assert cost.fvcore_flops(spec) == one["fvcore_flops"].sum()
    assert cost.torch_flops(spec) == 2 * one["macs"].sum()
    assert cost.torchinfo_mult_adds(spec) == one["torchinfo_mult_adds"].sum()


def test_config_table_names_the_four_torchvision_twins() -> None:
    """torchvision ships A, B, D and E (the book counts four), not A-LRN or C; with batch
    norm the twin is the ``_bn`` one."""
    table = cost.config_table()
    named = table["torchvision"].dropna()
    assert named.to_dict() == {"A": "vgg11", "B": "vgg13", "D": "vgg16", "E": "vgg19"}
    bn = cost.config_table(["B", "C"], batch_norm=True)["torchvision"]
    assert bn["B"] == "vgg13_bn" and bn.isna()["C"]


def test_training_costs_label_each_net_by_letter_and_common_name() -> None:
    """A-LRN has no common name of its own beyond its letter; the others read "D (vgg16)"."""
    costs = cost.training_costs(epochs=1, peak_flops=1e15)
    assert list(costs.index) == [
        "A (vgg11)",
        "A-LRN",
        "B (vgg13)",
        "C (vgg16_1x1)",
        "D (vgg16)",
        "E (vgg19)",
    ]


def test_counting_with_fvcore_puts_back_its_log_level() -> None:
    import logging

    logger = logging.getLogger("fvcore")
    before = logger.level
    try:
        logger.setLevel(logging.INFO)
        cost.measured_counts(VGGSpec("A", width=1 / 16, fc_width=8, resolution=32))
        assert logger.level == logging.INFO
    finally:
        logger.setLevel(before)


def test_the_other_quoted_figures_are_the_papers_and_the_cifar_projects() -> None:
    """Tables 3 to 5 of the paper for D and E trained at jittered scales, its hardware (4 Titan
    Blacks, 2-3 weeks a net), Zeiler & Fergus's 8 layers, and the CIFAR-10 accuracies that
    chengyangfu/pytorch-vgg-cifar10 and kuangliu/pytorch-cifar report."""
    from vggrepro import reference

    assert reference.PAPER_PROTOCOLS == {
        "D": {"single scale": (25.6, 8.1), "dense multi-scale": (24.8, 7.5),
              "multi-crop": (24.6, 7.5), "dense + multi-crop": (24.4, 7.2)},
        "E": {"single scale": (25.5, 8.0), "dense multi-scale": (24.8, 7.5),
              "multi-crop": (24.6, 7.4), "dense + multi-crop": (24.4, 7.1)},
    }  # fmt: skip
    assert reference.PAPER_HARDWARE == {"gpu": "NVIDIA Titan Black", "gpus": 4,
                                        "weeks_per_net": (2, 3)}  # fmt: skip
    assert reference.ZF_WEIGHT_LAYERS == 8
    found = {(r["source"].split("/")[0], r["arch"], r["batch_norm"]): r["test_acc"]
             for r in reference.CIFAR10_REFERENCE}  # fmt: skip
    assert found == {
        ("chengyangfu", "vgg11", False): 91.1, ("chengyangfu", "vgg11", True): 92.17,
        ("chengyangfu", "vgg13", False): 92.79, ("chengyangfu", "vgg13", True): 94.18,
        ("chengyangfu", "vgg16", False): 92.63, ("chengyangfu", "vgg16", True): 93.86,
        ("chengyangfu", "vgg19", False): 92.27, ("chengyangfu", "vgg19", True): 93.65,
        ("kuangliu", "vgg16", True): 92.64,
    }  # fmt: skip
    assert len(reference.CIFAR10_REFERENCE) == len(found)


def test_each_row_names_its_layer_as_table1_does_with_its_stage_and_kernel() -> None:
    """C at quarter width with batch norm: conv3-16, BN, relu, ... in stage 1; the 1x1 convs
    read conv1-64 and conv1-128; a pool is ``maxpool`` with its 2x2 kernel; the head is stage
    6. Only convs and pools have a kernel."""
    spec = VGGSpec("C", batch_norm=True, resolution=32, num_classes=10, width=0.25, fc_width=512)
    table = cost.layer_table(spec).set_index("name")
    assert list(table["layer"][:4]) == ["conv3-16", "BN", "relu", "conv3-16"]
    rows = ["conv1_1", "pool1", "conv3_3", "bn3_3", "conv4_3", "fc6", "relu7", "fc8"]
    assert list(table.loc[rows, "layer"]) == ["conv3-16", "maxpool", "conv1-64", "BN",
                                              "conv1-128", "FC-512", "relu", "FC-10"]  # fmt: skip
    assert list(table.loc[rows, "stage"]) == [1, 1, 3, 3, 4, 6, 6, 6]
    assert list(table.loc[rows, "kernel"].fillna(0)) == [3, 2, 1, 0, 1, 0, 0, 0]
    assert table["kernel"].isna().sum() == (~table["kind"].isin(["conv", "maxpool"])).sum()
