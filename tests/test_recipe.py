"""The recipe does what the paper says, checked where a planted bug would slip past the rest:
optimiser settings, the plateau rule's direction, per-image flips, the flip and top-5 protocols,
the validation hold-out, and resuming with the optimiser's and the generators' state."""

from pathlib import Path

import pytest
import torch
from conftest import TINY, tiny_cifar
from test_stats import fake_run

import vggrepro.engine.train as train_module
from vggrepro.arch.configs import VGGSpec
from vggrepro.arch.models import VGG
from vggrepro.engine.data import channel_stats, split_validation
from vggrepro.engine.evaluate import evaluate
from vggrepro.engine.loader import DeviceLoader
from vggrepro.engine.presets import preset
from vggrepro.engine.train import prepare, train
from vggrepro.report.significance import pairwise, t_critical
from vggrepro.results.io import runs_frame


def test_the_optimiser_uses_the_recipes_momentum_and_weight_decay(tmp_path: Path) -> None:
    cfg = preset("smoke", epochs=1, momentum=0.8, weight_decay=3e-4, **TINY)
    train(cfg, tiny_cifar(), run_id="o", checkpoint=tmp_path / "c.pt", progress=False)
    group = torch.load(tmp_path / "c.pt", weights_only=False)["optimizer"]["param_groups"][0]
    assert (group["momentum"], group["weight_decay"], group["lr"]) == (0.8, 3e-4, cfg.lr)


def test_the_plateau_rule_waits_while_validation_accuracy_rises() -> None:
    cfg = preset("smoke", patience=0, max_drops=3)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    scheduler = train_module._scheduler(cfg, opt)
    for accuracy in (0.1, 0.2, 0.3, 0.4):  # rising: no plateau, no drop
        scheduler.step(accuracy)
    assert opt.param_groups[0]["lr"] == cfg.lr
    scheduler.step(0.3)  # falling: a plateau with patience 0
    assert opt.param_groups[0]["lr"] == pytest.approx(cfg.lr * cfg.lr_factor)


def test_each_image_of_a_batch_gets_its_own_flip() -> None:
    images = torch.arange(64 * 3 * 4 * 4).remainder(251).to(torch.uint8).view(64, 3, 4, 4)
    ones = {"mean": (0.0,) * 3, "std": (1.0,) * 3}
    batches = DeviceLoader(
        images, torch.arange(64), 32, train=True, crop_padding=0, flip=True, **ones
    )
    for x, y in batches:
        original = images[y].float() / 255
        flipped = (x - original).abs().flatten(1).amax(1) > 1e-6
        assert 0 < int(flipped.sum()) < len(y)  # some flipped, some not, in every batch


class PixelClassifier(VGG):
    """A VGG whose scores are a fixed linear map of the raw pixels: unlike a random deep net,
    whose predictions collapse onto one class, its predictions vary from image to image and
    change when an image is mirrored."""

    def __init__(self) -> None:
        super().__init__(VGGSpec("A", num_classes=10, resolution=32, width=1 / 16, fc_width=8))
        self.pixels = torch.nn.Linear(3 * 32 * 32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pixels(x.flatten(1))


@pytest.fixture(scope="module")
def views() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, dict]:
    torch.manual_seed(3)
    net = PixelClassifier().eval()
    x, y = torch.randn(200, 3, 32, 32), torch.randint(0, 10, (200,))
    return net, x, y, evaluate(net, [(x[:100], y[:100]), (x[100:], y[100:])], scales=())


def test_the_flip_protocol_averages_the_image_and_its_mirror(views) -> None:
    net, x, y, metrics = views
    with torch.no_grad():
        p = (net(x).softmax(1) + net(x.flip(3)).softmax(1)) / 2
    expected = 100 * (1 - (p.argmax(1) == y).float().mean().item())
    assert metrics["flip"]["top1_error"] == pytest.approx(expected)
    assert metrics["flip"] != metrics["centre"]  # random weights are not mirror-symmetric


def test_top5_counts_the_five_most_probable_classes(views) -> None:
    net, x, y, metrics = views
    with torch.no_grad():
        top5 = net(x).topk(5, dim=1).indices
    expected = 100 * (1 - (top5 == y[:, None]).any(1).float().mean().item())
    assert metrics["centre"]["top5_error"] == pytest.approx(expected)
    assert metrics["centre"]["top5_error"] < metrics["centre"]["top1_error"]


def test_prepare_holds_out_validation_images_the_training_split_never_sees() -> None:
    data = tiny_cifar(n_train=12)
    data.train_images[:, 0, 0, 0] = torch.arange(len(data.train_labels))  # an id per image
    split = prepare(data, preset("smoke", n_val=20, n_train=None), torch.device("cpu"))
    train_ids = set(split.train[0][:, 0, 0, 0].tolist())
    val_ids = set(split.val[0][:, 0, 0, 0].tolist())
    assert len(train_ids) == 100 and len(val_ids) == 20 and not train_ids & val_ids
    # Normalisation statistics come from the training images alone.
    expected = channel_stats(split_validation(data, 20)[0])
    assert (split.mean, split.std) == expected
    assert split.mean != channel_stats(data.train_images)[0]


def test_every_seed_holds_out_the_same_validation_images() -> None:
    """Seeds compare nets on one split: the held-out images do not follow the run's seed."""
    data = tiny_cifar(n_train=12)
    data.train_images[:, 0, 0, 0] = torch.arange(len(data.train_labels))  # an id per image
    held_out = [
        prepare(data, preset("smoke", n_val=20, n_train=None, seed=s), torch.device("cpu"))
        for s in (0, 3, 7)
    ]
    ids = [sorted(split.val[0][:, 0, 0, 0].tolist()) for split in held_out]
    assert len(ids[0]) == 20 and ids[1] == ids[0] and ids[2] == ids[0]
    assert ids[0] == sorted(split_validation(data, 20, seed=0)[2][:, 0, 0, 0].tolist())


def test_the_t_test_has_na_plus_nb_minus_two_degrees_of_freedom() -> None:
    runs = [fake_run("vgg11", False, s, e) for s, e in enumerate((10.0, 11.0, 12.0))]
    runs += [fake_run("vgg13", False, s, e) for s, e in enumerate((14.0, 15.0, 16.0, 15.0))]
    c = pairwise(runs_frame(runs), "vgg11", "vgg13")
    assert (c.n_a, c.n_b, c.df) == (3, 4, 5)
    assert c.t_crit == pytest.approx(2.5706, abs=1e-4)  # Student's t, two-sided 95 %, df 5
    assert t_critical(4) == pytest.approx(2.7764, abs=1e-4)


def test_prepare_takes_n_test_test_images_and_accepts_exactly_one_full_batch() -> None:
    """50 training images in batches of 50 make exactly one batch; 30 of the 40 test images."""
    data = tiny_cifar()
    data.test_images[:, 0, 0, 0] = torch.arange(len(data.test_labels))  # an id per image
    cfg = preset("smoke", n_val=20, n_train=50, n_test=30, batch_size=50)
    split = prepare(data, cfg, torch.device("cpu"))
    assert split.sizes == {"n_train": 50, "n_val": 20, "n_test": 30}
    assert (len(split.train[1]), len(split.val[1]), len(split.test[1])) == (50, 20, 30)
    ids = split.test[0][:, 0, 0, 0].long()
    assert len(set(ids.tolist())) == 30  # distinct test images, their labels along
    assert torch.equal(split.test[1], data.test_labels[ids])
