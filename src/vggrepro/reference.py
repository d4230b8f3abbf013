"""Published figures the book quotes beside its own: the paper's tables and other projects'.

Quoted from their sources (collected in the project's ../shared/REFERENCE.md); none of these is
one of our results.
"""

from __future__ import annotations

from typing import Any

PUBLISHED: dict[str, dict[str, float]] = {
    # Simonyan & Zisserman, ICLR 2015, Table 2: "Number of parameters (in millions)".
    "paper_mparams": {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144},
    # torchvision/models/vgg.py, IMAGENET1K_V1 weight metadata, "num_params".
    "torchvision_params": {
        "vgg11": 132_863_336,
        "vgg11_bn": 132_868_840,
        "vgg13": 133_047_848,
        "vgg13_bn": 133_053_736,
        "vgg16": 138_357_544,
        "vgg16_bn": 138_365_992,
        "vgg19": 143_667_240,
        "vgg19_bn": 143_678_248,
    },
    # Same metadata, "_ops": GMACs at 224 x 224 (torchvision's docs call them "GFLOPS").
    "torchvision_gmacs": {
        "vgg11": 7.609,
        "vgg11_bn": 7.609,
        "vgg13": 11.308,
        "vgg13_bn": 11.308,
        "vgg16": 15.470,
        "vgg16_bn": 15.470,
        "vgg19": 19.632,
        "vgg19_bn": 19.632,
    },
}

PAPER_TABLE3: dict[str, tuple[float, float]] = {
    # Simonyan & Zisserman (ICLR 2015), Table 3, train and test scale 256: ImageNet validation
    # (top-1, top-5) error in percent, dense evaluation. Quoted, not ours.
    "A": (29.6, 10.4),
    "A-LRN": (29.7, 10.5),
    "B": (28.7, 9.9),
    "C": (28.1, 9.4),
    "D": (27.0, 8.8),
    "E": (27.3, 9.0),
}


PAPER_PROTOCOLS: dict[str, dict[str, tuple[float, float]]] = {
    # Simonyan & Zisserman (ICLR 2015), ImageNet validation (top-1, top-5) error in percent of
    # D and E trained with jittered S in [256; 512]: Table 3 (single test scale Q = 384),
    # Table 4 (dense, Q = {256, 384, 512}) and Table 5 (multi-crop, and both combined).
    "D": {
        "single scale": (25.6, 8.1),
        "dense multi-scale": (24.8, 7.5),
        "multi-crop": (24.6, 7.5),
        "dense + multi-crop": (24.4, 7.2),
    },
    "E": {
        "single scale": (25.5, 8.0),
        "dense multi-scale": (24.8, 7.5),
        "multi-crop": (24.6, 7.4),
        "dense + multi-crop": (24.4, 7.1),
    },
}
"""The paper's ImageNet figures for the protocols it compares (quoted, not ours)."""


# CIFAR-10 test accuracy (%) reported by other implementations, with their setups.
CIFAR10_REFERENCE: list[dict[str, Any]] = [
    *(
        {
            "source": "chengyangfu/pytorch-vgg-cifar10",
            "setup": "300 epochs, full conv widths, classifier 512-512-10",
            "arch": arch,
            "batch_norm": bn,
            "test_acc": acc,
        }
        for arch, bn, acc in (
            ("vgg11", False, 91.1),
            ("vgg11", True, 92.17),
            ("vgg13", False, 92.79),
            ("vgg13", True, 94.18),
            ("vgg16", False, 92.63),
            ("vgg16", True, 93.86),
            ("vgg19", False, 92.27),
            ("vgg19", True, 93.65),
        )
    ),
    {
        "source": "kuangliu/pytorch-cifar",
        "setup": "VGG16 with batch norm",
        "arch": "vgg16",
        "batch_norm": True,
        "test_acc": 92.64,
    },
]


ILSVRC: dict[str, Any] = {
    # The ILSVRC results as the paper reports them (Simonyan & Zisserman, ICLR 2015: abstract,
    # and section 4.5, "Comparison with the state of the art", which cites the challenge's
    # paper, Russakovsky et al., IJCV 2015, for them). Quoted, not ours.
    "source": "as Simonyan & Zisserman (2015, abstract and section 4.5) report them from the "
    "challenge (Russakovsky et al., 2015)",
    # Section 4.5: in the classification task of ILSVRC-2014 the "VGG" team "secured the 2nd
    # place", behind "the classification task winner (GoogLeNet [...])". Places only: the
    # error rates are not in the book's reference file (../shared/REFERENCE.md).
    "2014 classification": {"GoogLeNet": {"place": 1}, "VGG": {"place": 2}},
    # Abstract: "pushing the depth to 16-19 weight layers. These findings were the basis of our
    # ImageNet Challenge 2014 submission".
    "vgg_submission_depths": (16, 19),
    # Section 2.3 names Zeiler & Fergus (2013) among "the top-performing entries of the [...]
    # ILSVRC-2013 competitions".
    "2013 top entries": ("Zeiler & Fergus",),
}
"""The ILSVRC placings the ledger checks the blog's ranking claim against."""

ZF_WEIGHT_LAYERS = 8
"""Zeiler & Fergus (ECCV 2014), Fig. 3: "Architecture of our 8 layer convnet model" (five conv
and three fully connected layers). Quoted, not ours."""


PAPER_HARDWARE: dict[str, Any] = {
    # Simonyan & Zisserman (ICLR 2015), implementation details, as ../shared/REFERENCE.md quotes
    # them: "4 NVIDIA Titan Black GPUs, 2–3 weeks per net". Quoted, not ours.
    "gpu": "NVIDIA Titan Black",
    "gpus": 4,
    "weeks_per_net": (2, 3),
}
"""What the paper trained each net on, and for how long."""

PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    # Dense bf16 tensor-core peaks, in TFLOP/s, keyed by a part of torch.cuda.get_device_name;
    # the first key found in the name wins. NVIDIA's datasheets print bf16 "with sparsity",
    # which is twice the dense rate, hence the halves.
    # Only the SXM parts this project is lent are listed; pass --peak-tflops for others.
    # H200 datasheet (nvidia.com/en-us/data-center/h200): BF16 Tensor Core 1,979 TFLOPS (SXM).
    ("H200", 1979 / 2),
    # H100 datasheet (nvidia.com/en-us/data-center/h100): 1,979 TFLOPS (SXM, which reports
    # itself as "NVIDIA H100 80GB HBM3").
    ("H100 80GB HBM3", 1979 / 2),
    ("H100 SXM", 1979 / 2),
)
"""Datasheet peaks of the GPUs the benchmarks and the book's cost estimates use."""
