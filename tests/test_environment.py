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

    model = build("A", batch_norm=True)
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
