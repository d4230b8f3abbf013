"""What the layers see: filters, stage outputs, top images, probes and the choice of saved net."""

import copy
import dataclasses
import importlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY, tiny_cifar
from torch import nn

from vggrepro.arch.models import build
from vggrepro.engine.data import TORCHVISION_FOLDER
from vggrepro.engine.presets import preset
from vggrepro.engine.train import train
from vggrepro.report import features as F
from vggrepro.results.io import load_result


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return build("A", num_classes=10, resolution=32, width=1 / 16, fc_width=8, batch_norm=True)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(12, 3, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A real tiny smoke run with its model saved in fp16, and its results dictionary."""
    folder = tmp_path_factory.mktemp("ck")
    cfg = preset("smoke", epochs=1, eval_scales=(32,), **TINY)
    result = train(cfg, tiny_cifar(), run_id="f/m", progress=False, model_path=folder / "m.pt")
    return folder / "m.pt", result


def place(folder: Path, name: str, source: Path, result: dict) -> Path:
    """Copy a saved net into ``folder`` as ``name``.pt with its results file beside it."""
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.pt").write_bytes(source.read_bytes())
    (folder / f"{name}.json").write_text(json.dumps(result))
    return folder / f"{name}.pt"


def full_run(result: dict, epochs: int, error: float, budget: int = 30) -> dict:
    """``result`` relabelled as a non-smoke run of the reduced preset with an epoch budget of
    ``budget`` of which ``epochs`` ran."""
    out = copy.deepcopy(result)
    out.update(smoke=False, preset="reduced")
    out["config"]["epochs"] = budget
    out["history"] = [dict(result["history"][0], epoch=i + 1) for i in range(epochs)]
    out["test"]["centre"]["top1_error"] = error
    return out


def test_first_layer_filters_map_zero_to_grey_and_the_peak_to_an_end(model: nn.Module) -> None:
    tiles = F.first_layer_filters(model)
    weight = model.features[0].weight.detach()
    assert tiles.shape == weight.shape
    assert tiles.min() >= 0 and tiles.max() <= 1
    for w, t in zip(weight, tiles, strict=True):
        peak = w.abs().argmax()
        assert t.flatten()[peak].item() in (pytest.approx(0.0), pytest.approx(1.0))
        assert torch.allclose(t - 0.5, 0.5 * w / w.abs().max())
    bank = F.first_layer_filters(model, per_filter=False)
    assert torch.allclose(bank - 0.5, 0.5 * weight / weight.abs().max())


def test_filter_energy_separates_brightness_colour_and_pattern() -> None:
    flat = torch.ones(1, 3, 3, 3)
    colour = torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 3, 3)
    edge = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3).expand(1, 3, 3, 3)
    table = F.filter_energy(torch.cat([flat, colour, edge, torch.randn(5, 3, 3, 3)]))
    assert table.iloc[0]["flat grey"] == pytest.approx(1)
    assert table.iloc[1]["flat colour"] == pytest.approx(1)
    assert table.iloc[2]["grey pattern"] == pytest.approx(1)
    assert table.sum(axis=1).to_numpy() == pytest.approx([1.0] * 8)


def test_iid_weights_have_the_expected_energy_shares() -> None:
    weights = torch.randn(20000, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    measured = F.filter_energy(weights).mean()
    expected = F.iid_energy()
    assert sum(expected.values()) == pytest.approx(1)
    for part, share in expected.items():
        assert measured[part] == pytest.approx(share, abs=0.01)


def test_stage_layers_are_the_last_relu_before_each_pool(model: nn.Module) -> None:
    layers = F.stage_layers(model)
    assert list(layers) == [1, 2, 3, 4, 5]
    for i in layers.values():
        assert isinstance(model.features[i], nn.ReLU)
        assert isinstance(model.features[i + 1], nn.MaxPool2d)


def test_stage_outputs_shapes_and_determinism(model: nn.Module, images: torch.Tensor) -> None:
    model.train()
    maps = F.stage_outputs(model, images)
    assert model.training  # the mode is restored
    widths = [model.spec.channels(c) for c in (64, 128, 256, 512, 512)]
    for (stage, out), side, c in zip(maps.items(), (32, 16, 8, 4, 2), widths, strict=True):
        assert out.shape == (12, c, side, side), stage
        assert (out >= 0).all()  # after a ReLU
    again = F.stage_outputs(model, images)
    assert all(torch.equal(maps[s], again[s]) for s in maps)
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_stage_means_are_the_spatial_means_whatever_the_batch(
    model: nn.Module, images: torch.Tensor
) -> None:
    maps = F.stage_outputs(model, images)
    for batch in (5, 12):
        means = F.stage_means(model, images, batch_size=batch)
        for s in maps:
            assert torch.allclose(means[s], maps[s].mean(dim=(2, 3)), atol=1e-6)


def test_top_k_orders_highest_first_and_breaks_ties_by_index() -> None:
    means = torch.tensor([[0.1, 5.0], [0.9, 5.0], [0.5, 1.0], [0.9, 0.0]])
    top = F.top_k(means, [0, 1], k=3)
    assert top.tolist() == [[1, 3, 2], [0, 1, 2]]
    assert F.top_k(means, [1], k=10).shape == (1, 4)


def test_top_activating_finds_the_images_with_the_highest_means(
    model: nn.Module, images: torch.Tensor
) -> None:
    stage, channels, k = 3, [0, 2, 5], 4
    top = F.top_activating(model, images, stage, channels, k)
    means = F.stage_means(model, images)[stage]
    assert top.shape == (3, 4)
    for row, c in zip(top, channels, strict=True):
        values = means[row, c]
        assert (values[:-1] >= values[1:]).all()
        assert values[-1] >= means[:, c].sort(descending=True).values[k - 1]


def test_pick_channels_draws_live_channels_first() -> None:
    means = torch.zeros(6, 10)
    means[:, [2, 5, 7]] = torch.rand(6, 3, generator=torch.Generator().manual_seed(0))
    picked = F.pick_channels(means, 3, seed=1)
    assert sorted(picked) == [2, 5, 7]
    assert F.pick_channels(means, 3, seed=1) == picked
    more = F.pick_channels(means, 5, seed=1)
    assert more[:3] == picked and len(set(more)) == 5
    draws = {tuple(F.pick_channels(torch.rand(4, 40), 3, seed=s)) for s in range(5)}
    assert len(draws) > 1  # the seed matters


def test_class_purity_counts_the_commonest_class_among_the_top_images() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    means = torch.tensor(
        [[9.0, 1, 0], [8, 2, 0], [1, 9, 0], [2, 8, 0], [3, 7, 0], [4, 0, 0]]
    )  # channel 0 prefers class 0, channel 1 mixes classes 1 and 2, channel 2 is dead
    purity = F.class_purity(means, labels, k=2)
    assert purity[0].item() == 1.0
    assert purity[1].item() == 1.0  # its top two (9, 8) are both class 1
    assert math.isnan(purity[2].item())
    assert F.class_purity(means, labels, k=4)[1].item() == 0.5


def test_ncm_accuracy_on_separable_and_on_shuffled_features() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(4) * 10
    y = torch.arange(4).repeat(50)
    x = centres[y] + torch.randn(len(y), 4, generator=g)
    assert F.ncm_accuracy(x, y, x, y) == 1.0
    shuffled = y[torch.randperm(len(y), generator=g)]
    assert F.ncm_accuracy(x, shuffled, x, y) < 0.6


def test_ncm_accuracy_matches_a_direct_count_on_scaled_noisy_features() -> None:
    """Rows of very different lengths and columns of different scales: each fit and test row is
    normalised on its own, class means taken, each test row given its nearest mean's class."""
    g = torch.Generator().manual_seed(1)
    y = torch.arange(3).repeat(40)
    x = (torch.randn(3, 8, generator=g)[y] + 2.0 * torch.randn(120, 8, generator=g)).double()
    x *= 10 ** (4 * torch.rand(120, 1, generator=g) - 2) * 10 ** torch.rand(1, 8, generator=g)
    fit, test = x[:60], x[60:]
    unit = fit / fit.norm(dim=1, keepdim=True)
    means = torch.stack([unit[y[:60] == c].mean(0) for c in range(3)])
    nearest = torch.cdist(test / test.norm(dim=1, keepdim=True), means).argmin(1)
    expected = float((nearest == y[60:]).double().mean())
    assert F.ncm_accuracy(fit, y[:60], test, y[60:]) == pytest.approx(expected)
    assert 0.4 < expected < 1.0  # neither chance nor trivially separable


def test_iid_energy_shares_count_the_kernels_and_channels_apart() -> None:
    """A 5 x 5 kernel over 3 channels has 75 weights: 1 flat grey direction, 2 flat colour
    ones, 24 grey patterns and 48 coloured ones."""
    shares = F.iid_energy(kernel=5, channels=3)
    expected = {"flat grey": 1, "flat colour": 2, "grey pattern": 24, "colour pattern": 48}
    assert shares == pytest.approx({k: v / 75 for k, v in expected.items()})
    assert sum(F.iid_energy(3, 64).values()) == pytest.approx(1.0)


def test_ncm_compares_directions_not_lengths() -> None:
    """Two classes along two directions, at lengths from 0.01 to 100: normalised, each point
    is nearest its own class's mean; unnormalised, the long points of class 0 are nearest
    the mean of class 1 (which the long points of class 1 pull out)."""
    scale = torch.tensor([0.01, 0.1, 1.0, 10.0, 100.0]).repeat(2)
    y = torch.arange(2).repeat_interleave(5)
    x = torch.stack([torch.tensor([1.0, 0.2]), torch.tensor([0.2, 1.0])])[y] * scale[:, None]
    fit = torch.cat([x, torch.tensor([[0.0, 1000.0]])])  # one very long point of class 1
    assert F.ncm_accuracy(fit, torch.cat([y, torch.tensor([1])]), x, y) == 1.0


def test_synthetic_images_are_deterministic_and_cycle_through_kinds() -> None:
    a, kinds = F.synthetic_images(9, seed=3)
    b, _ = F.synthetic_images(9, seed=3)
    assert a.dtype == torch.uint8 and a.shape == (9, 3, 32, 32)
    assert torch.equal(a, b)
    assert kinds.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    assert not torch.equal(a, F.synthetic_images(9, seed=4)[0])
    assert all(len(img.unique()) > 1 for img in a)  # every image has a pattern


def test_stage_fields_follow_the_receptive_field_rule(model: nn.Module) -> None:
    table = F.stage_fields(model)
    assert table["map"].tolist() == [32, 16, 8, 4, 2]
    assert table["rf"].tolist() == [3, 8, 26, 62, 134]  # config A at stride 1, 2, 4, 8, 16


def probe(accs: list[float], random_last: float, n: int = 2000) -> pd.DataFrame:
    """A probe table with the given trained accuracies per stage."""
    rows = []
    for s, a in enumerate(accs, start=1):
        rows.append(
            {
                "stage": s,
                "ncm trained": a,
                "ncm trained se": math.sqrt(a * (1 - a) / n),
                "ncm random": random_last,
                "ncm random se": math.sqrt(random_last * (1 - random_last) / n),
            }
        )
    return pd.DataFrame(rows)


def test_probe_verdict() -> None:
    rising = probe([0.3, 0.4, 0.5, 0.6, 0.8], 0.3)
    assert F.probe_verdict(rising, smoke=True).startswith("not testable here")
    assert F.probe_verdict(rising, smoke=False) == "supported"
    dip = probe([0.3, 0.6, 0.4, 0.6, 0.8], 0.3)
    assert F.probe_verdict(dip, smoke=False) == "partly supported"
    flat = probe([0.5, 0.5, 0.51, 0.5, 0.51], 0.3)
    assert F.probe_verdict(flat, smoke=False) == "not supported"
    random_as_good = probe([0.3, 0.4, 0.5, 0.6, 0.8], 0.8)
    assert F.probe_verdict(random_as_good, smoke=False) == "not supported"


def test_probe_verdict_measures_a_gap_in_standard_errors_of_the_difference() -> None:
    """Stage 5 at 56 % against stage 1 at 50 %: with n = 600 test images the gap is 2.08
    standard errors of the difference (sqrt(se1^2 + se5^2)), past the two-sided 95 % point;
    with n = 500 it is 1.90, short of it. Adding the two errors (1.48 at n = 600) misses both."""
    accs = [0.50, 0.52, 0.54, 0.55, 0.56]
    assert F.probe_verdict(probe(accs, 0.40, n=600), smoke=False) == "supported"
    assert F.probe_verdict(probe(accs, 0.40, n=500), smoke=False) == "not supported"
    # A threshold given as ``z`` replaces the 95 % point: 1.90 clears 1.8, 2.08 misses 2.2.
    assert F.probe_verdict(probe(accs, 0.40, n=500), smoke=False, z=1.8) == "supported"
    assert F.probe_verdict(probe(accs, 0.40, n=600), smoke=False, z=2.2) == "not supported"


def test_probe_table_on_a_tiny_net(saved: tuple[Path, dict]) -> None:
    path, result = saved
    ck = F.SavedNet(path, result)
    net = ck.model()
    data = tiny_cifar()
    imgs = F.probe_images(ck, data, n_fit=20, n_test=30)
    assert imgs.fit_x.shape == (20, 3, 32, 32) and imgs.test_x.shape == (30, 3, 32, 32)
    assert imgs.test_raw.dtype == torch.uint8
    mean, std = F.training_stats(ck, data)
    assert torch.allclose(F.normalise(imgs.test_raw, mean, std), imgs.test_x)
    table = F.probe_table(net, F.random_twin(net, "kaiming"), imgs, k=5)
    assert table["stage"].tolist() == [1, 2, 3, 4, 5]
    for col in ("ncm trained", "ncm random", "purity trained", "purity random"):
        values = table[col].dropna()
        assert ((values >= 0) & (values <= 1)).all(), col
    assert (table["n_test"] == 30).all()
    for name in ("trained", "random"):  # the binomial standard error of an accuracy on 30
        acc = table[f"ncm {name}"]
        assert table[f"ncm {name} se"].tolist() == pytest.approx(
            np.sqrt(acc * (1 - acc) / 30).tolist()
        )
    stage3 = F.stage_means(net, imgs.fit_x, 64)[3], F.stage_means(net, imgs.test_x, 64)[3]
    assert table.loc[2, "ncm trained"] == F.ncm_accuracy(
        stage3[0], imgs.fit_y, stage3[1], imgs.test_y
    )
    # Purity is the mean over the stage's live channels; dead ones are counted apart.
    purity = F.class_purity(stage3[1], imgs.test_y, 5)
    assert table.loc[2, "purity trained"] == pytest.approx(float(np.nanmean(purity.numpy())))
    assert table.loc[2, "dead trained"] == int(purity.isnan().sum())
    assert F.same_data(ck, data)


def test_a_recorded_probe_is_the_chapters_probe_with_its_provenance(
    saved: tuple[Path, dict], tmp_path: Path
) -> None:
    """``record_probe`` writes into the net's results file the table the features chapter
    shows: the net against the random twin drawn with the run's seed and scheme, on the run's
    own images; ``recorded_probe`` reads it back unchanged, and the book needs no data."""
    source, result = saved
    run = full_run(result, epochs=1, error=50.0)
    run["config"]["seed"] = 3  # the twin is drawn with the run's seed, not a fixed one
    ck = F.SavedNet(place(tmp_path, "net", source, run), run)
    assert F.recorded_probe(ck) is None
    data = tiny_cifar()
    written = F.record_probe(ck, data, n_fit=20, n_test=30, k=5)
    net, config = ck.model(), ck.result["config"]
    twin = F.random_twin(net, config["init"], seed=config["seed"])
    images = F.probe_images(ck, data, n_fit=20, n_test=30)
    want = F.probe_table(net, twin, images, k=5)
    on_disk = load_result(tmp_path / "net.json")
    assert on_disk == json.loads(json.dumps(written))  # the run's record, plus the probe
    assert on_disk["history"] == ck.result["history"]
    pd.testing.assert_frame_equal(F.recorded_probe(F.SavedNet(ck.path, on_disk)), want)
    record = on_disk["probe"]
    assert (record["n_fit"], record["n_test"], record["k"]) == (20, 30, 5)
    assert record["chance_purity"] == F.chance_purity(images.test_y, 5)
    assert record["data"] == {"source": data.source, "checksum": data.checksum}
    assert record["provenance"]["device_type"] == "cpu" and record["wall_time_s"] > 0


def test_a_probe_is_refused_for_a_smoke_model_and_for_other_data(
    saved: tuple[Path, dict], tmp_path: Path
) -> None:
    source, result = saved
    with pytest.raises(ValueError, match="smoke model"):
        F.record_probe(F.SavedNet(place(tmp_path, "smoke", source, result), result), tiny_cifar())
    full = full_run(result, epochs=1, error=50.0)
    ck = F.SavedNet(place(tmp_path, "net", source, full), full)
    other = dataclasses.replace(tiny_cifar(), source="other", checksum="f" * 64)
    with pytest.raises(ValueError, match="other data"):
        F.record_probe(ck, other)
    assert "probe" not in json.loads((tmp_path / "net.json").read_text())  # nothing written


def test_find_saved_net_prefers_full_runs_then_epochs_then_error(
    saved: tuple[Path, dict], tmp_path: Path
) -> None:
    source, result = saved
    with pytest.raises(FileNotFoundError, match="no saved net"):
        F.find_saved_net(tmp_path)
    place(tmp_path, "a_smoke", source, result)
    (tmp_path / "orphan.pt").write_bytes(source.read_bytes())  # no results file: ignored
    assert F.find_saved_net(tmp_path).path.name == "a_smoke.pt"
    place(tmp_path, "b_short", source, full_run(result, epochs=3, error=20.0))
    place(tmp_path, "c_long_bad", source, full_run(result, epochs=30, error=30.0))
    place(tmp_path, "d_long_good", source, full_run(result, epochs=30, error=10.0))
    names = [c.path.stem for c in F.find_saved_nets(tmp_path)]
    assert names == ["d_long_good", "c_long_bad", "b_short", "a_smoke"]
    assert [c.path.stem for c in F.find_saved_nets(str(tmp_path))] == names  # a folder as text
    assert isinstance(F.find_saved_net(tmp_path).model(), nn.Module)


def test_warning_says_what_the_saved_net_is(saved: tuple[Path, dict]) -> None:
    path, result = saved
    smoke = F.SavedNet(path, result)
    text = F.saved_net_warning(smoke)
    assert text.startswith(":::{warning}") and "smoke" in text.lower()
    assert f"{smoke.test_error:.1f} %" in text and "1 epoch(s)" in text
    assert smoke.label.startswith("smoke")
    short = F.SavedNet(path, full_run(result, epochs=3, error=40.0))
    assert "under-trained" in F.saved_net_warning(short).lower()
    assert "3 epoch(s)" in F.saved_net_warning(short)
    full = F.SavedNet(path, full_run(result, epochs=30, error=10.0))
    assert F.saved_net_warning(full) == ""
    assert not full.undertrained and "under" not in full.label and "GPU tier" in full.label
    cpu = F.SavedNet(path, {**full_run(result, epochs=15, error=20.0, budget=15), "preset": "cpu"})
    assert not cpu.undertrained and "CPU tier" in cpu.label


def test_saved_nets_are_looked_for_in_the_results_folder_unless_told_otherwise(
    saved: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``$VGGREPRO_MODELS`` the chapter reads the checkout's ``results/models``, from
    any working folder; with it, ``find_saved_net()`` reads the folder it names."""
    from vggrepro.results.recorded import RESULTS

    monkeypatch.chdir(tmp_path)
    try:
        monkeypatch.delenv("VGGREPRO_MODELS", raising=False)
        assert importlib.reload(F).MODELS == RESULTS / "models"
        place(tmp_path / "nets", "only", *saved)
        monkeypatch.setenv("VGGREPRO_MODELS", str(tmp_path / "nets"))
        assert importlib.reload(F).find_saved_net().path == tmp_path / "nets" / "only.pt"
    finally:
        monkeypatch.undo()
        importlib.reload(F)


def test_data_source_never_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VGGREPRO_DATA", raising=False)
    monkeypatch.setenv("VGGREPRO_CACHE", str(tmp_path))
    assert F.data_source() is None and F.load_data() is None
    (tmp_path / "torchvision").mkdir()  # an empty folder is not a download
    assert F.data_source() is None
    (tmp_path / "torchvision" / TORCHVISION_FOLDER).mkdir()
    assert F.data_source() == "torchvision"
    monkeypatch.setenv("VGGREPRO_DATA", "/some/archive.tar.gz")
    assert F.data_source() == "/some/archive.tar.gz"


def test_sample_images_without_data_are_synthetic_and_normalised(
    saved: tuple[Path, dict],
) -> None:
    ck = F.SavedNet(*saved)
    sample = F.sample_images(ck, None, 8)
    assert sample.synthetic and sample.names[:4] == list(F.SYNTHETIC_KINDS)
    assert sample.x.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert F.probe_verdict(None, smoke=False).startswith("not testable here: no probe is recorded")
    real = F.sample_images(ck, tiny_cifar(), 8)
    assert not real.synthetic and set(real.names) <= set(tiny_cifar().classes)
    assert real.raw.shape == (8, 3, 32, 32)


def test_the_random_twin_with_the_runs_seed_is_its_starting_point(tmp_path: Path) -> None:
    cfg = preset("smoke", epochs=1, lr=0.0, seed=3, init="glorot", eval_scales=(32,), **TINY)
    train(cfg, tiny_cifar(), run_id="still", progress=False, model_path=tmp_path / "m.pt")
    net = F.SavedNet(tmp_path / "m.pt", {}).model()  # never moved: lr 0
    twin = F.random_twin(net, "glorot", seed=3)
    assert not twin.training
    assert F.weight_change(net, twin) == {s: 0.0 for s in range(1, 6)}
    other = F.weight_change(net, F.random_twin(net, "glorot", seed=4))
    assert all(v > 0.5 for v in other.values())


def test_weight_change_is_relative_to_the_start(model: nn.Module) -> None:
    start = F.random_twin(model, "kaiming")
    moved = F.random_twin(model, "kaiming")
    with torch.no_grad():
        for m in moved.features:
            if isinstance(m, nn.Conv2d) and m.out_channels == model.spec.channels(64):
                m.weight.mul_(1.5)  # stage 1 only
    change = F.weight_change(moved, start)
    assert change[1] == pytest.approx(0.5)
    assert all(change[s] == 0 for s in range(2, 6))


def test_chance_purity_matches_extremes() -> None:
    one_class = torch.zeros(50, dtype=torch.long)
    assert F.chance_purity(one_class, k=5) == 1.0
    balanced = torch.arange(10).repeat(100)
    chance = F.chance_purity(balanced, k=20)
    assert 0.1 < chance < 0.4
    assert F.chance_purity(balanced, k=1) == 1.0


def test_probe_verdict_reads_stages_in_order_against_the_twins_last_stage() -> None:
    """The verdict compares the last stage with the random twin's last stage (not its first),
    and reads the stages in order whatever the order of the table's rows."""
    rising = probe([0.3, 0.4, 0.5, 0.6, 0.8], 0.3)
    assert F.probe_verdict(rising.iloc[::-1], smoke=False) == "supported"
    late = rising.assign(**{"ncm random": [0.3, 0.3, 0.4, 0.6, 0.8]})  # the twin catches up
    assert F.probe_verdict(late, smoke=False) == "not supported"
    early = rising.assign(**{"ncm random": [0.8, 0.6, 0.4, 0.3, 0.3]})
    assert F.probe_verdict(early, smoke=False) == "supported"


def test_class_purity_with_fewer_images_than_k_divides_by_the_images_there_are() -> None:
    """Three images, two of class 0: with k = 5 the top list holds all three, purity 2/3."""
    means = torch.tensor([[3.0], [2.0], [1.0]])
    purity = F.class_purity(means, torch.tensor([0, 1, 0]), k=5)
    assert purity.tolist() == [pytest.approx(2 / 3)]


def test_a_saved_net_without_a_test_error_comes_after_one_with_an_error(
    saved: tuple[Path, dict], tmp_path: Path
) -> None:
    """Two full runs of 30 epochs: one tested (50 % error), one without a centre-crop test
    error. The tested one is better, whatever the names' order."""
    source, result = saved
    untested = full_run(result, epochs=30, error=10.0)
    del untested["test"]["centre"]
    place(tmp_path, "a_untested", source, untested)
    place(tmp_path, "b_tested", source, full_run(result, epochs=30, error=50.0))
    assert [c.path.stem for c in F.find_saved_nets(tmp_path)] == ["b_tested", "a_untested"]
    assert math.isnan(F.find_saved_nets(tmp_path)[1].test_error)


def test_the_label_says_which_device_trained_the_net(saved: tuple[Path, dict]) -> None:
    path, result = saved
    cpu = F.SavedNet(path, full_run(result, epochs=30, error=10.0))
    assert cpu.result["provenance"]["device_type"] == "cpu"
    assert cpu.label == "CPU-trained model (GPU tier, 30 epochs)"
    gpu_run = full_run(result, epochs=3, error=10.0)
    gpu_run["provenance"] = {**gpu_run["provenance"], "device_type": "cuda"}
    assert F.SavedNet(path, gpu_run).label == "under-trained GPU model (GPU tier, 3 epochs)"


def test_the_description_and_warning_quote_the_runs_own_numbers(saved: tuple[Path, dict]) -> None:
    """The name carries batch norm and width, the description the training and test set
    sizes, and an under-trained net's warning its budget (30 epochs), not the 3 it ran."""
    path, result = saved
    run = full_run(result, epochs=3, error=40.0, budget=30)
    run["config"].update(batch_norm=True, width=0.25)
    run["data"] = {**run["data"], "n_train": 45000, "n_test": 10000}
    ck = F.SavedNet(path, run)
    assert ck.name == f"{run['config']['arch']}_bn, width 0.25"
    text = ck.describe()
    assert "3 epoch(s) on 45,000 training images" in text and "on 10,000 test images" in text
    assert "stopped before the end of its budget of 30 epochs" in F.saved_net_warning(ck)
    cpu = {**run, "preset": "cpu"}
    record = F.SavedNet(path, cpu).record  # the one run, at its own tier, from the net's folder
    assert (record.grid, record.runs, record.tier) == ("features", [cpu], "cpu")
    assert record.source == str(path.parent)
