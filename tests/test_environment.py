"""environment.yml, the Makefile and pyproject.toml agree; Table 1 regenerated from the data."""

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from vggrepro.analysis.summary import table1
from vggrepro.arch.configs import LRN, TABLE1, weight_layers

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
ENVIRONMENT = yaml.safe_load((ROOT / "environment.yml").read_text())


def _extras(spec: str) -> set[str]:
    """The extras of a pip argument such as ``-e .[test]`` or ``'.[book,test]'``."""
    match = re.search(r"\.\[([\w,\s-]+)\]", spec)
    assert match, f"{spec!r} does not install the checkout with extras"
    return {e.strip() for e in match.group(1).split(",")}


def _requirement(name: str) -> Requirement:
    """The requirement on ``name`` in any of pyproject's optional-dependency lists."""
    for reqs in PYPROJECT["optional-dependencies"].values():
        for req in map(Requirement, reqs):
            if req.name == name:
                return req
    raise AssertionError(f"pyproject.toml does not require {name}")


def test_environment_python_satisfies_requires_python() -> None:
    pythons = [
        d for d in ENVIRONMENT["dependencies"] if isinstance(d, str) and d.startswith("python")
    ]
    assert len(pythons) == 1
    pinned = pythons[0].split("=", 1)[1].lstrip("=")
    requires = Requirement(f"python{PYPROJECT['requires-python']}").specifier
    assert Version(pinned) in requires


def test_environment_installs_the_checkout_like_make() -> None:
    pip = next(d["pip"] for d in ENVIRONMENT["dependencies"] if isinstance(d, dict))
    assert ENVIRONMENT["dependencies"].count("pip") == 1
    assert len(pip) == 1 and pip[0].startswith("-e .")
    extras = _extras(pip[0])
    assert extras <= set(PYPROJECT["optional-dependencies"])
    make = re.findall(r"pip install .*", (ROOT / "Makefile").read_text())
    assert [_extras(line) for line in make if ".[" in line] == [extras]


def test_jupyter_book_is_pinned_below_2() -> None:
    spec = _requirement("jupyter-book").specifier
    assert Version("1.0.4") in spec
    assert not any(Version(v) in spec for v in ("2.0.0", "2.0.0a0", "2.1", "3.0"))
    assert Version(version("jupyter-book")).major < 2


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return table1()


def test_table1_has_one_column_per_configuration(table: pd.DataFrame) -> None:
    assert list(table.columns) == list(TABLE1)


def test_table1_stages_list_each_configurations_layers_in_order(table: pd.DataFrame) -> None:
    for config, stages in TABLE1.items():
        for s, stage in enumerate(stages, start=1):
            rows = table.loc[f"stage {s}", config]
            cells = [c for c in rows.drop("pool") if c]
            names = [LRN if ly == LRN else f"conv{ly[0]}-{ly[1]}" for ly in stage]
            assert cells == names
            assert rows["pool"] == "maxpool"


@pytest.mark.parametrize("kind, kernel", [("conv3-", 3), ("conv1-", 1)])
def test_table1_counts_convolutions_as_the_configs(
    table: pd.DataFrame, kind: str, kernel: int
) -> None:
    for config, stages in TABLE1.items():
        cells = table[config].astype(str)
        expected = sum(ly != LRN and ly[0] == kernel for stage in stages for ly in stage)
        assert cells.str.startswith(kind).sum() == expected


def test_table1_numbers_each_stages_rows_from_one(table: pd.DataFrame) -> None:
    """The rows of a stage are numbered 1..k, as a reader counts layers; E's stage 3 has 4."""
    assert list(table.loc["stage 3"].index) == ["1", "2", "3", "4", "pool"]
    assert list(table.loc["head"].index) == ["1", "2", "3", "4"]
    assert table.loc[("stage 1", "1"), "A"] == "conv3-64"
    assert table.index[0] == ("input", "")
    assert list(table.index.names) == ["block", "row"]


def test_table1_weight_layer_row_is_weight_layers(table: pd.DataFrame) -> None:
    row = table.loc[("weight layers", "")]
    assert row.to_dict() == {c: weight_layers(c) for c in TABLE1}
    assert (table.loc["head"].iloc[-1] == "soft-max").all()


def test_the_torchinfo_summary_names_modules_by_their_dotted_path() -> None:
    from vggrepro.analysis.summary import torchinfo_summary
    from vggrepro.arch.configs import VGGSpec

    spec = VGGSpec("A", num_classes=10, resolution=32, width=1 / 16, fc_width=16)
    modules = list(torchinfo_summary(spec, depth=2)["module"])
    assert modules[:3] == ["features", "features.0", "features.1"]
    assert "classifier" in modules and modules[-1].startswith("classifier.")


def test_a_net_fresh_from_the_builder_computes_its_torchvision_twins_function() -> None:
    """A net as ``build`` returns it (in training mode, dropout on) takes every tensor of
    torchvision's VGG-11-BN and then gives its outputs: the comparison runs both in eval mode."""
    from vggrepro.analysis.summary import torchvision_difference
    from vggrepro.arch.models import build

    model = build("A", batch_norm=True, num_classes=10)  # the twin gets our head's size
    assert model.training
    found = torchvision_difference(model)
    assert found["tensors"] == 8 * 2 + 8 * 5 + 3 * 2  # conv w, b; BN w, b, mean, var, count; FC
    assert found["max_abs_diff"] < 1e-5 and not model.training


def test_the_layer_listing_gives_each_layers_kernel_channels_and_output() -> None:
    from vggrepro.analysis.summary import layer_listing
    from vggrepro.arch.configs import VGGSpec

    spec = VGGSpec("A", num_classes=10, resolution=32, width=1 / 16, fc_width=16)
    rows = layer_listing(spec)
    first, pool = rows.iloc[0], rows.iloc[1]
    assert (first["stage"], first["kernel"], first["channels"], first["output"]) == (
        "1",
        "3×3, stride 1, pad 1",
        "3 → 4",
        "32×32×4",
    )
    assert (pool["kind"], pool["kernel"], pool["output"]) == ("maxpool", "2×2, stride 2, pad 0",
                                                              "16×16×4")  # fmt: skip
    head = rows[rows["stage"] == "head"]
    assert list(head["channels"]) == ["32 → 16", "16 → 16", "16 → 10"]
    assert list(head["output"]) == ["16", "16", "10"] and (head["kernel"] == "").all()
    assert len(rows) == 8 + 5 + 3  # convs, pools, FC layers; no ReLU or dropout


def test_the_summary_by_stage_sums_each_stages_parameters() -> None:
    from vggrepro.analysis.summary import torchinfo_summary
    from vggrepro.arch.configs import VGGSpec

    spec = VGGSpec("A", num_classes=10, resolution=32, width=1 / 16, fc_width=16)
    stages = torchinfo_summary(spec, by_stage=True)
    assert list(stages.index) == [f"stage {s}" for s in range(1, 6)] + ["head"]
    assert stages["params"].sum() == stages.attrs["total_params"]
    assert stages.at["stage 1", "params"] == 3 * 3 * 3 * 4 + 4
    assert stages.at["stage 1", "layers"] == "Conv2d, ReLU, MaxPool2d"
    assert stages.at["head", "output shape"] == (1, 10)


def test_the_shape_claims_hold_for_d_and_fail_where_a_net_breaks_them() -> None:
    """D (narrow, with the paper's head) keeps H x W through its 13 3x3 convs and halves it at
    each of its 5 pools; B-5x5 at 97 px has no 3x3 conv (the claim is not vacuously true), its
    pools floor an odd side (97 -> 48) and its head is not the paper's."""
    from vggrepro.analysis.summary import shape_claims, shape_trace
    from vggrepro.arch.configs import VGGSpec
    from vggrepro.arch.models import build

    d = shape_claims(shape_trace(build(VGGSpec("D", width=1 / 32))))
    assert d["holds"].all()
    assert list(d["observed"]) == [
        "224×224×3",
        "13 of 13 such convs keep H×W",
        "5 of 5 pools halve: 224 → 112 → 56 → 28 → 14 → 7",
        "4096, 4096, 1000",
    ]
    spec = VGGSpec("B-5x5", num_classes=10, resolution=97, width=1 / 32, fc_width=16)
    b5 = shape_claims(shape_trace(build(spec)))
    assert list(b5["holds"]) == [False, False, True, False]
    assert b5.loc[1, "observed"] == "0 of 0 such convs keep H×W"
    assert b5.loc[2, "observed"] == "5 of 5 pools halve: 97 → 48 → 24 → 12 → 6 → 3"


def test_table1_heads_every_column_with_the_input_and_the_papers_fc_head(
    table: pd.DataFrame,
) -> None:
    """The first row is the 224 x 224 RGB input; the head is FC-4096, FC-4096, FC-1000 and the
    soft-max, the same for all six."""
    assert (table.loc[("input", "")] == "224 × 224 RGB image").all()
    head = table.loc["head"]
    for config in TABLE1:
        assert list(head[config]) == ["FC-4096", "FC-4096", "FC-1000", "soft-max"]


def test_table1_takes_aliases_and_leaves_a_shorter_stage_blank() -> None:
    """``vgg16`` is D; next to E's four-conv stage 3, D's fourth row is blank, not missing."""
    both = table1(["vgg16", "E", "B-5x5"])
    assert list(both.columns) == ["D", "E", "B-5x5"]
    stage3 = both.loc["stage 3"]
    assert list(stage3["D"]) == ["conv3-256"] * 3 + ["", "maxpool"]
    assert list(stage3["B-5x5"]) == ["conv5-256", "", "", "", "maxpool"]
    assert list(both.loc[("weight layers", "")]) == [16, 19, 8]


def test_weight_layers_are_the_papers_11_to_19_and_lrn_has_no_weights() -> None:
    """Table 1's header: A and A-LRN 11, B 13, C and D 16, E 19 weight layers; B-5x5 has one
    5x5 conv per stage, 5 + 3 = 8."""
    found = {c: weight_layers(c) for c in [*TABLE1, "B-5x5", "vgg11_lrn"]}
    assert found == {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19, "B-5x5": 8,
                     "vgg11_lrn": 11}  # fmt: skip


def test_aliases_map_both_ways_and_an_unknown_name_lists_every_valid_one() -> None:
    from vggrepro.arch.configs import alias, resolve

    assert [alias(c) for c in ("A-LRN", "C", "vgg16", "B-5x5")] == [
        "vgg11_lrn",
        "vgg16_1x1",
        "vgg16",
        "vgg13_5x5",
    ]
    with pytest.raises(ValueError) as error:
        resolve("vgg17")
    message = str(error.value)
    assert "\n" not in message and "'vgg17'" in message
    assert message.endswith("A, A-LRN, B, C, D, E, B-5x5, vgg11, vgg11_lrn, vgg13, vgg16_1x1, "
                            "vgg16, vgg19, vgg13_5x5")  # fmt: skip


@pytest.mark.parametrize(
    "fields, accepted",
    [
        ({"num_classes": 1}, True),
        ({"num_classes": 0}, False),
        ({"fc_width": 1}, True),
        ({"fc_width": 0}, False),
        ({"resolution": 32}, True),
        ({"resolution": 31}, False),
        ({"dropout": 0.0}, True),
        ({"dropout": 0.99}, True),
        ({"dropout": 1.0}, False),
        ({"dropout": -0.01}, False),
        ({"width": 1 / 64}, True),  # A's 64-channel layers keep one channel
        ({"width": 0.007}, False),  # 64 x 0.007 = 0.45 rounds to none
    ],
)
def test_a_spec_accepts_each_limit_and_refuses_one_past_it(fields: dict, accepted: bool) -> None:
    """At least one class, one FC unit, 32 px (five 2x2 pools), dropout in [0, 1), one channel."""
    from vggrepro.arch.configs import VGGSpec

    if accepted:
        VGGSpec("A", **fields)
    else:
        with pytest.raises(ValueError) as error:
            VGGSpec("A", **fields)
        assert "\n" not in str(error.value)


def test_widths_round_channels_to_the_nearest_integer() -> None:
    """0.9 x 64 = 57.6 channels become 58, 0.9 x 128 = 115.2 become 115; a width too small for
    the 64-channel layers names the smallest width that keeps them, 1/64."""
    from vggrepro.arch.configs import VGGSpec

    convs = [ly for ly in VGGSpec("A", width=0.9).features() if ly.kind == "conv"]
    assert [ly.out_channels for ly in convs[:2]] == [58, 115]
    assert convs[1].in_channels == 58
    with pytest.raises(ValueError, match=r"at least 0\.015625$"):
        VGGSpec("A", width=0.007)


def test_lrn_is_alexnets_and_5x5_convs_pad_by_two() -> None:
    """A-LRN reuses AlexNet's LRN (size 5, alpha 1e-4, beta 0.75, k 2); every conv pads by
    half its kernel so that it keeps the map's side, including B-5x5's and C's 1x1."""
    from vggrepro.arch.configs import LRN_PARAMS, VGGSpec

    assert LRN_PARAMS == {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}
    pads = {
        c: {(ly.kernel, ly.padding) for ly in VGGSpec(c).features() if ly.kind == "conv"}
        for c in ("B-5x5", "C")
    }
    assert pads == {"B-5x5": {(5, 2)}, "C": {(3, 1), (1, 0)}}


def test_the_summary_depth_defaults_to_every_layer_and_counts_repeated_classes() -> None:
    """Depth 1 is the two parts alone; the default (2) lists each layer; a stage of two convs
    reads ``Conv2d ×2, ReLU ×2, MaxPool2d``."""
    from vggrepro.analysis.summary import torchinfo_summary
    from vggrepro.arch.configs import VGGSpec

    spec = VGGSpec("A", num_classes=10, resolution=32, width=1 / 16, fc_width=16)
    assert list(torchinfo_summary(spec, depth=1)["module"]) == ["features", "classifier"]
    every = torchinfo_summary(spec)
    assert len(every) == 2 + 8 * 2 + 5 + 7  # parts; conv + ReLU; pools; the head's layers
    stages = torchinfo_summary(spec, by_stage=True)
    assert stages.at["stage 3", "layers"] == "Conv2d ×2, ReLU ×2, MaxPool2d"
    assert stages.at["stage 3", "output shape"] == (1, 16, 4, 4)  # after the pool: 8 -> 4


def test_forward_check_resolves_aliases_and_gives_one_score_per_class() -> None:
    from vggrepro.analysis.summary import forward_check

    small = {"num_classes": 7, "resolution": 32, "width": 1 / 16, "fc_width": 16}
    assert list(forward_check(**small)["config"]) == list(TABLE1)  # Table 1's six by default
    rows = forward_check(["vgg16", "A-LRN"], **small)
    assert list(rows["config"]) == ["D", "A-LRN"]
    assert list(rows["weight layers"]) == [16, 11]
    assert list(rows["output shape"]) == [(1, 7), (1, 7)]
    # A-LRN at 1/16 width: convs 3-4, 4-8, 8-16-16, 16-32-32, 32-32-32; FC 32-16-16-7.
    convs = [(3, 4), (4, 8), (8, 16), (16, 16), (16, 32), (32, 32), (32, 32), (32, 32)]
    fcs = [(32, 16), (16, 16), (16, 7)]
    params = sum(9 * i * o + o for i, o in convs) + sum(i * o + o for i, o in fcs)
    assert rows.loc[1, "params"] == params


def test_the_dense_net_maps_a_larger_image_to_a_grid_of_scores() -> None:
    """A net trained at 32 px has a 1 x 1 last map; at 96 px it is 3 x 3, and so is the map
    of scores, one per class."""
    from vggrepro.analysis.summary import dense_check
    from vggrepro.arch.models import build

    model = build("A", num_classes=5, resolution=32, width=1 / 16, fc_width=8)
    found = dense_check(model, larger=96)
    assert found["score_map"] == (1, 5, 3, 3)
    assert found["max_abs_diff"] < 1e-5


def test_the_torchinfo_summary_of_a_built_net_is_that_of_its_spec() -> None:
    """``torchinfo_summary`` takes a built net as well as a spec, and summarises that net."""
    from vggrepro.analysis.summary import torchinfo_summary
    from vggrepro.arch.configs import VGGSpec
    from vggrepro.arch.models import build

    spec = VGGSpec("A-LRN", num_classes=10, resolution=32, width=1 / 16, fc_width=16)
    built = torchinfo_summary(build(spec), by_stage=True)
    pd.testing.assert_frame_equal(built, torchinfo_summary(spec, by_stage=True))
    assert built.attrs["total_params"] == torchinfo_summary(spec).attrs["total_params"]


def test_the_layer_listing_gives_normalisation_layers_a_shape_but_no_kernel() -> None:
    """Batch norm and LRN keep their input's shape and have no kernel column to fill."""
    from vggrepro.analysis.summary import layer_listing
    from vggrepro.arch.configs import VGGSpec

    spec = VGGSpec("A-LRN", num_classes=10, resolution=32, width=1 / 16, batch_norm=True)
    rows = layer_listing(spec)
    assert list(rows["kind"][:4]) == ["conv", "bn", "lrn", "maxpool"]
    for _, row in rows.iloc[1:3].iterrows():
        assert (row["stage"], row["kernel"], row["channels"], row["output"]) == (
            "1",
            "",
            "4 → 4",
            "32×32×4",
        )


def test_the_shape_trace_records_each_modules_geometry_and_removes_its_hooks() -> None:
    """B-5x5's convs are 5x5 with stride 1 and padding 2, its pools 2x2 with stride 2 and no
    padding, and a layer without them reads 0; the hooks are gone after the pass."""
    from vggrepro.analysis.summary import shape_trace
    from vggrepro.arch.configs import VGGSpec
    from vggrepro.arch.models import build

    model = build(VGGSpec("B-5x5", num_classes=10, resolution=32, width=1 / 32, fc_width=16))
    trace = shape_trace(model).set_index(["part", "index"])
    geometry = ["layer", "kernel", "stride", "padding", "input", "output"]
    assert list(trace.loc[("features", 0), geometry]) == ["Conv2d", 5, 1, 2, (3, 32, 32),
                                                          (2, 32, 32)]  # fmt: skip
    assert list(trace.loc[("features", 2), geometry]) == ["MaxPool2d", 2, 2, 0, (2, 32, 32),
                                                          (2, 16, 16)]  # fmt: skip
    assert list(trace.loc[("classifier", 0), geometry]) == ["Linear", 0, 0, 0, (16,), (16,)]
    assert len(trace) == len(model.features) + len(model.classifier)
    assert not any(m._forward_hooks for m in model.modules())
