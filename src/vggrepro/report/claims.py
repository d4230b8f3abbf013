"""The claims ledger: every claim of the paper and of the blog summary that the book tests.

Each check returns a ``LedgerRow`` computed from the evidence it cites: the package (cost,
receptive fields, built nets), quoted sources kept as data in ``vggrepro.reference`` (the ILSVRC
ranking), the features chapter's probes of a trained saved net, or recorded runs; no verdict
is written by hand. A claim about training is decided from the best tier a grid has
(``recorded.load_grid``): GPU runs, else CPU-tier runs, each a verdict at its own scale, which
the ledger names. When a grid has only CPU smoke runs its verdict is "not testable here",
whatever the smoke numbers say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import pandas as pd
import torch

from vggrepro.analysis import cost
from vggrepro.analysis.receptive import stack_vs_single
from vggrepro.analysis.summary import shape_claims, shape_trace
from vggrepro.arch.configs import TABLE1, VGGSpec, weight_layers
from vggrepro.arch.models import build
from vggrepro.reference import ILSVRC, PAPER_TABLE3, PUBLISHED, ZF_WEIGHT_LAYERS
from vggrepro.report import ablations, depth, significance
from vggrepro.report.features import probe_verdict
from vggrepro.report.significance import Status
from vggrepro.results.recorded import PROTOCOLS, GridRecord


class Outcome(StrEnum):
    """A claim's verdict in the ledger."""

    REPRODUCED = "reproduced"
    PARTLY = "partly"
    NOT_REPRODUCED = "not reproduced"
    NOT_TESTABLE = "not testable here"


VERDICTS = tuple(Outcome)


def _grade(parts: Iterable[bool]) -> Outcome:
    """Reproduced when every part holds, partly when some do, else not reproduced."""
    parts = list(parts)
    if all(parts):
        return Outcome.REPRODUCED
    return Outcome.PARTLY if any(parts) else Outcome.NOT_REPRODUCED


@dataclass(frozen=True)
class LedgerRow:
    """One row of the ledger."""

    source: str  # "paper" or "blog"
    claim: str
    verdict: Outcome
    evidence: str  # the number behind the verdict
    chapter: str  # the book document that tests it, e.g. "book/cost"
    scale: str = "exact computation at full size"  # what the evidence was computed at

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {[str(v) for v in VERDICTS]}")
        object.__setattr__(self, "verdict", Outcome(self.verdict))
        # Evidence is often a ``Verdict`` (a str with a status): keep its text only, so that
        # a row copies and tabulates as plain data.
        object.__setattr__(self, "evidence", str(self.evidence))


def table2_parameters() -> LedgerRow:
    """Table 2: 133, 133, 133, 134, 138 and 144 million parameters."""
    ours = {c: cost.totals(VGGSpec(c))["params"] / 1e6 for c in TABLE1}
    paper = PUBLISHED["paper_mparams"]
    match = all(round(ours[c]) == paper[c] for c in TABLE1)
    shown = ", ".join(f"{c} {ours[c]:.2f}M" for c in TABLE1)
    return LedgerRow(
        "paper", "Table 2: A, A-LRN, B, C, D, E have 133, 133, 133, 134, 138, 144 M parameters",
        Outcome.REPRODUCED if match else Outcome.NOT_REPRODUCED, f"computed: {shown}", "book/cost",
    )  # fmt: skip


def three_by_three_stacks() -> LedgerRow:
    """Section 2.3: three 3x3 layers see 7x7 with 27C^2 weights against 49C^2 (81% more)."""
    s = stack_vs_single(3, 64)
    more = s["weights_single"] / s["weights_stack"] - 1
    ok = s["rf_stack"] == 7 and round(100 * more) == 81 and s["relus_stack"] == 3
    return LedgerRow(
        "paper",
        "A stack of three 3x3 conv layers has a 7x7 receptive field, three non-linearities, "
        "and 27C² weights against 49C² for one 7x7 layer (81% more)",
        Outcome.REPRODUCED if ok else Outcome.NOT_REPRODUCED,
        f"receptive field {s['rf_stack']}, {s['weights_per_pair_stack']}C² vs "
        f"{s['weights_per_pair_single']}C² ({100 * more:.0f}% more), {s['relus_stack']} ReLUs",
        "book/small_filters",
    )


def two_by_three_stacks() -> LedgerRow:
    """Blog: two stacked 3x3 filters see 5x5 with 18 weights instead of 25, plus a ReLU."""
    s = stack_vs_single(2, 64)
    ok = (
        s["rf_stack"] == 5
        and (s["weights_per_pair_stack"], s["weights_per_pair_single"]) == (18, 25)
        and s["relus_stack"] == s["relus_single"] + 1
    )
    return LedgerRow(
        "blog",
        "Two stacked 3x3 filters see a 5x5 region with 18 weights instead of 25, and add a "
        "non-linearity",
        Outcome.REPRODUCED if ok else Outcome.NOT_REPRODUCED,
        f"receptive field {s['rf_stack']}; {s['weights_per_pair_stack']} vs "
        f"{s['weights_per_pair_single']} weights per input-output channel pair; "
        f"{s['relus_stack']} vs {s['relus_single']} ReLUs",
        "book/small_filters",
    )


FC_BAND = (0.70, 0.90)
"""The blog's "about 80 %", read as 70-90 %, both ends included (bounds compared directly, so
that no rounding of ``0.8 - 0.7`` moves a share at an end out of the band)."""


def fc_share(totals: dict[str, dict[str, Any]] | None = None) -> LedgerRow:
    """Blog: FC layers are ~80% of the computation because they hold so many parameters.

    Decided by the FC layers' share of the multiply-accumulates of each configuration
    (``cost.totals``, or ``totals`` given per configuration): reproduced when every share is
    about 80 %, partly when some are, not reproduced when none is.
    """
    totals = totals if totals is not None else {c: cost.totals(VGGSpec(c)) for c in TABLE1}
    p = [s["fc_param_share"] for s in totals.values()]
    m = [s["fc_mac_share"] for s in totals.values()]
    near = [FC_BAND[0] <= share <= FC_BAND[1] for share in m]
    low, high = (100 * end for end in FC_BAND)
    return LedgerRow(
        "blog",
        "The FC (MLP) layers account for about 80% of VGGNet's computation, because they hold "
        "so many parameters",
        _grade(near),
        f"FC layers hold {100 * min(p):.1f}–{100 * max(p):.1f}% of the parameters but do "
        f"{100 * min(m):.2f}–{100 * max(m):.2f}% of the multiply-accumulates ({sum(near)} of "
        f"{len(m)} configurations in {low:.0f}–{high:.0f}%)",
        "book/cost",
    )


def shapes() -> LedgerRow:
    """Blog: 3x3 pad 1 keeps resolution, 2x2/2 pool halves it, 224x224x3 in, FC 4096-4096-1000;
    checked on D by the architecture chapter's own test (``summary.shape_claims``)."""
    table = shape_claims(shape_trace(build(VGGSpec("D"))))
    return LedgerRow(
        "blog",
        "A 3x3 convolution with padding 1 keeps the resolution; each 2x2 max-pool with stride 2 "
        "halves it; input 224x224x3; FC 4096, 4096, 1000",
        Outcome.REPRODUCED if table["holds"].all() else Outcome.NOT_REPRODUCED,
        "D: input {}; {}; {}; FC widths {}".format(*table["observed"]),
        "book/cost",
    )


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, ..., 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def ilsvrc_ranking(
    results: dict[str, Any] = ILSVRC,
    zf_layers: int = ZF_WEIGHT_LAYERS,
    layers: Callable[[str], int] = weight_layers,
) -> LedgerRow:
    """Blog: VGG came second in ILSVRC-2014 classification with 16 and 19 weight layers,
    against ZFNet's 8 in 2013.

    Three checks, each against its source: VGG's place among the 2014 classification results
    the paper reports from the challenge (``reference.ILSVRC``), the weight layers of D and E
    counted from Table 1's data and within the depths the paper says its submission used, and
    the depth of Zeiler and Fergus's net (``reference.ZF_WEIGHT_LAYERS``), a top ILSVRC-2013
    entry. Reproduced when all three hold, partly when some do.
    """
    ranked = sorted(results["2014 classification"].items(), key=lambda kv: kv[1]["place"])
    place = results["2014 classification"]["VGG"]["place"]
    d, e = layers("D"), layers("E")
    shallow, deep = results["vgg_submission_depths"]
    checks = {
        "place": place == 2,
        "depths": (d, e) == (16, 19) and shallow <= d <= e <= deep,
        "zf": zf_layers == 8 and "Zeiler & Fergus" in results["2013 top entries"],
    }
    table = ", ".join(f"{_ordinal(r['place'])} {name}" for name, r in ranked)
    return LedgerRow(
        "blog",
        "VGG came second in the ILSVRC-2014 classification task with 16 and 19 weight layers, "
        "against ZFNet's 8 in 2013",
        _grade(checks.values()),
        f"ILSVRC-2014 classification {results['source']}: {table}; "
        f"D and E have {d} and {e} weight layers (counted from Table 1's data; the submission "
        f"used {shallow}–{deep}); Zeiler and Fergus's net, a top ILSVRC-2013 entry, has "
        f"{zf_layers} (their Fig. 3)",
        "book/claims",
        "quoted from the cited sources; layers counted from Table 1",
    )


ROUNDING = 1e-5
"""A deviation below this between two float32 computations of the same value is rounding."""


def deviation(x: float, rounding: float = ROUNDING) -> str:
    """A deviation as the ledger cites it: its value when it is larger than float rounding,
    else only the bound. The size of a rounding error depends on the order in which the BLAS
    library sums (which changes with the machine's instruction set), so citing it would make
    the ledger differ from one machine to the next though nothing it says has changed."""
    return f"{x:.1e}" if x >= rounding else f"below {rounding:.0e}, float rounding"


def position_information(seed: int = 0) -> tuple[LedgerRow, dict[str, float]]:
    """Blog: convolution keeps position information that an FC layer on raw pixels discards.

    Measured two ways: (1) shifting the input of a conv stack by its stride shifts its feature
    map by one cell and changes nothing else (equivariance); (2) permuting the pixels of the
    input and the columns of an FC layer's weights the same way leaves its output unchanged:
    an FC layer keeps every pixel's position (each has its own weight) but has no notion of
    which pixels are neighbours.
    """
    torch.manual_seed(seed)
    spec = VGGSpec("A", num_classes=10, resolution=64, width=1 / 16, fc_width=16)
    net = build(spec).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.zeros_(m.bias)
    stages = net.features[
        : [i for i, m in enumerate(net.features) if "Pool" in type(m).__name__][2] + 1
    ]
    x = torch.zeros(1, 3, 96, 96)
    x[..., 32:64, 24:56] = torch.rand(1, 3, 32, 32)
    stride = 8  # three 2x2 pools
    with torch.no_grad():
        y = stages(x)
        y_shift = stages(torch.roll(x, stride, dims=3))
    conv_error = (torch.roll(y, 1, dims=3) - y_shift).abs().max().item()
    conv_changed = (y_shift - y).abs().max().item()

    fc = torch.nn.Linear(3 * 32 * 32, 10)
    pixels = torch.rand(4, 3 * 32 * 32)
    perm = torch.randperm(pixels.shape[1])
    permuted = torch.nn.Linear(3 * 32 * 32, 10)
    with torch.no_grad():
        permuted.weight.copy_(fc.weight[:, perm])
        permuted.bias.copy_(fc.bias)
        fc_error = (fc(pixels) - permuted(pixels[:, perm])).abs().max().item()
    numbers = {"conv_error": conv_error, "conv_changed": conv_changed, "fc_error": fc_error}
    equivariant = conv_error < ROUNDING < conv_changed
    verdict = LedgerRow(
        "blog",
        "Convolution keeps position information that an FC layer applied to raw pixels would "
        "discard",
        Outcome.PARTLY if equivariant and fc_error < ROUNDING else Outcome.NOT_REPRODUCED,
        f"a conv stack's output follows an 8-pixel shift exactly (max deviation "
        f"{deviation(conv_error)}); but an FC layer with its pixels and weights permuted alike "
        f"gives the same outputs (max deviation {deviation(fc_error)}): it keeps each pixel's "
        "position, and loses only the neighbourhood structure",
        "book/claims",
        "measured on a small untrained net",
    )
    return verdict, numbers


STATIC_CHECKS: list[Callable[[], LedgerRow]] = [
    table2_parameters,
    three_by_three_stacks,
    two_by_three_stacks,
    fc_share,
    shapes,
    ilsvrc_ranking,
]
"""Claims decided by computation, or by quoted sources, alone (no training)."""


def feature_hierarchy(table: pd.DataFrame | None, smoke: bool, scale: str) -> LedgerRow:
    """Blog: early layers learn low-level features, middle layers mid-level, deep layers
    high-level ones.

    Decided by the probes of the features chapter (``features.probe_table`` on the book's
    saved net, as recorded by ``features.record_probe``; ``table`` is None when none is) through
    ``features.probe_verdict``: the testable part is whether class information grows with
    depth beyond what the same net with random weights has. The early-layer part holds by
    construction (a first-layer unit sees 3x3 pixels) and the middle-layer part (textures,
    parts) is not tested, so the best this evidence can give is "partly".
    """
    claim = (
        "Early layers learn low-level features (lines, edges, colours), middle layers "
        "mid-level ones, deep layers high-level ones (whole objects)"
    )
    status = probe_verdict(table, smoke)
    if status.status in (Status.NOT_TESTABLE, Status.SMOKE):
        return LedgerRow("blog", claim, Outcome.NOT_TESTABLE, status, "book/features", scale)
    t = table.sort_values("stage")
    first, last = t.iloc[0], t.iloc[-1]
    se = 100 * t[["ncm trained se", "ncm random se"]].to_numpy().max()
    # Whole percent: one standard error is about one point, and a finer figure could move
    # with the rounding of a single image's distances between machines.
    rf = int(first["rf"])
    evidence = (
        f"nearest-class-mean accuracy on a stage's channel means goes from "
        f"{100 * first['ncm trained']:.0f}% (stage {int(first['stage'])}) to "
        f"{100 * last['ncm trained']:.0f}% (stage {int(last['stage'])}), against "
        f"{100 * last['ncm random']:.0f}% for the same net with random weights (standard "
        f"errors up to {se:.0f} point{'s' if round(se) != 1 else ''}), which the features "
        f"chapter's rule calls {status}; low-level features at stage 1 hold by construction "
        f"(a {rf}x{rf}-pixel receptive field); mid-level features (textures, parts) are not "
        "tested"
    )
    verdict = Outcome.NOT_REPRODUCED if status.status == Status.CONTRADICTED else Outcome.PARTLY
    return LedgerRow("blog", claim, verdict, evidence, "book/features", scale)


_OUTCOMES = {Status.SUPPORTED: Outcome.REPRODUCED, Status.CONTRADICTED: Outcome.NOT_REPRODUCED,
             Status.INCONCLUSIVE: Outcome.NOT_REPRODUCED}  # fmt: skip
"""A comparison's status as a ledger verdict: not testable for the others."""


def _smoke_row(record: GridRecord, source: str, claim: str, chapter: str) -> LedgerRow:
    return LedgerRow(
        source, claim, Outcome.NOT_TESTABLE,
        f"only CPU smoke runs are recorded ({len(record.runs)} in {record.source}); the claim "
        "needs the grid at the CPU or GPU tier",
        chapter, record.label,
    )  # fmt: skip


def depth_claims(record: GridRecord) -> list[LedgerRow]:
    """The paper's and the blog's claims that depth lowers the error."""
    paper = "Error falls with depth (11 to 19 layers), saturating at 19 layers on ImageNet"
    blog = "Depth is what improves accuracy"
    if record.smoke:
        return [
            _smoke_row(record, "paper", paper, "book/depth"),
            _smoke_row(record, "blog", blog, "book/depth"),
        ]
    effect = depth.depth_effect(record.frame).set_index("batch_norm")
    # Both settings must fall for "reproduced": the paper's nets had no batch norm, so a grid
    # that recorded only the batch-norm nets reproduces the claim partly at best.
    falls = [
        bn in effect.index and bool(effect.at[bn, "clear"] and effect.at[bn, "change"] < 0)
        for bn in (False, True)
    ]
    verdict = _grade(falls)
    evidence = depth.depth_verdict(record)
    return [
        LedgerRow("paper", paper, verdict, evidence, "book/depth", record.label),
        LedgerRow("blog", blog, verdict, evidence, "book/depth", record.label),
    ]


def pair_claim(
    record: GridRecord, source: str, claim: str, a: str, b: str, direction: str, chapter: str
) -> LedgerRow:
    """A claim that arm ``b``'s top-1 error is ``direction`` than arm ``a``'s."""
    if record.smoke:
        return _smoke_row(record, source, claim, chapter)
    c = significance.pairwise(record.frame, a, b)
    status = significance.claim_verdict(c, direction)
    return LedgerRow(
        source,
        claim,
        _OUTCOMES.get(status.status, Outcome.NOT_TESTABLE),
        c.verdict,
        chapter,
        record.label,
    )


def init_claims(record: GridRecord) -> list[LedgerRow]:
    """Section 3.1: a deep net from the normal init stalls; the warm start and Glorot fix it."""
    stall = (
        "A deep net without batch norm initialised from N(0, 0.01²) can stall; initialising it "
        "from a trained net A avoids that"
    )
    glorot = "Glorot initialisation trains the deep nets without the warm start"
    if record.smoke:
        return [_smoke_row(record, "paper", c, "book/ablations") for c in (stall, glorot)]
    n_test = record.runs[0]["data"]["n_test"]
    table = ablations.init_table(ablations.init_outcomes(record.frame, n_test))
    state = ablations.init_states(table)
    evidence = ablations.init_verdict(table, smoke=False)
    paper_stalls, warm_trains = state["vgg19_paper"] != "trains", state["vgg19_warm"] == "trains"
    both = paper_stalls and warm_trains
    return [
        LedgerRow(
            "paper",
            stall,
            Outcome.REPRODUCED
            if both
            else Outcome.PARTLY
            if warm_trains
            else Outcome.NOT_REPRODUCED,
            evidence,
            "book/ablations",
            record.label,
        ),  # fmt: skip
        LedgerRow(
            "paper",
            glorot,
            Outcome.REPRODUCED if state["vgg19_glorot"] == "trains" else Outcome.NOT_REPRODUCED,
            evidence,
            "book/ablations",
            record.label,
        ),  # fmt: skip
    ]


def evaluation_claims(record: GridRecord) -> list[LedgerRow]:
    """Tables 3-5: multi-scale dense beats single scale; dense + multi-crop beats both."""
    multi = "Multi-scale dense evaluation gives lower error than single-scale (Tables 3-4)"
    both = "Combining dense and multi-crop evaluation gives the lowest error (Table 5)"
    if record.smoke:
        return [_smoke_row(record, "paper", c, "book/evaluation") for c in (multi, both)]
    if not record.tested_with(PROTOCOLS):
        why = f"the runs in {record.source} were not tested with {', '.join(PROTOCOLS)}"
        return [LedgerRow("paper", c, Outcome.NOT_TESTABLE, why, "book/evaluation", record.label)
                for c in (multi, both)]  # fmt: skip
    table = ablations.protocol_claims(record.frame)
    out = []
    for claim, column in (
        (multi, "multi-scale beats single scale"),
        (both, "dense + multi-crop beats both"),
    ):
        verdict = _grade(v.status == Status.SUPPORTED for v in table[column])
        out.append(
            LedgerRow(
                "paper",
                claim,
                verdict,
                significance.tally(table[column]),
                "book/evaluation",
                record.label,
            )
        )
    return out


def training_claims(records: dict[str, GridRecord]) -> list[LedgerRow]:
    """Every claim decided by training, from the grids' records (``recorded.load_grid``); the
    evaluation claims read ``records["protocols"]``, the depth grid's best tier that was tested
    with every protocol, where given (else the depth grid's record)."""
    lrn, filters, one = records["lrn"], records["filters"], records["1x1"]
    out = depth_claims(records["depth"]) + init_claims(records["init"])
    out.append(
        pair_claim(
            lrn,
            "paper",
            "LRN does not improve A (A-LRN is no better than A)",
            "vgg11",
            "vgg11_lrn",
            "not lower",
            "book/ablations",
        )  # fmt: skip
    )
    out.append(
        pair_claim(
            filters,
            "paper",
            "Replacing each pair of 3x3 convs in B by one 5x5 conv raises the top-1 error",
            "vgg13",
            "vgg13_5x5",
            "higher",
            "book/ablations",
        )  # fmt: skip
    )
    out.append(c_beats_b(filters, one))
    out.append(
        pair_claim(
            one,
            "paper",
            "C (1x1 convs) is worse than D (3x3 convs): spatial context matters",
            "vgg16",
            "vgg16_1x1",
            "higher",
            "book/ablations",
        )  # fmt: skip
    )
    return out + evaluation_claims(records.get("protocols", records["depth"]))


def c_beats_b(filters: GridRecord, one: GridRecord) -> LedgerRow:
    """Table 3: C (B with a 1x1 conv added to each of its last three stages) beats B.

    B is not in the 1x1 grid; its runs come from the filters grid, as in the ablations
    chapter, and only when the two grids were recorded at the same tier with the same training
    options (``ablations.recipe_differences``). The paper's own Table 3 figures are quoted
    beside the verdict.
    """
    claim = "C (B plus 1x1 convs) is better than B: the added non-linearity helps"
    paper = (
        f"; the paper's Table 3 (ImageNet, S = 256): B {PAPER_TABLE3['B'][0]}%, "
        f"C {PAPER_TABLE3['C'][0]}% top-1"
    )
    if filters.smoke or one.smoke:
        smoke = filters if filters.smoke else one
        return _smoke_row(smoke, "paper", claim, "book/ablations")
    differences = ablations.recipe_differences(filters.runs, one.runs)
    if differences or filters.tier != one.tier:
        why = (
            f"differ in {', '.join(differences)}"
            if differences
            else f"come from different tiers ({filters.tier_name}, {one.tier_name})"
        )
        return LedgerRow(
            "paper", claim, Outcome.NOT_TESTABLE,
            f"B's runs (filters grid) and C's (1x1 grid) {why}: not comparable" + paper,
            "book/ablations", one.label,
        )  # fmt: skip
    b_runs = [r for r in filters.runs if r["config"]["arch"] == "vgg13"]
    c_runs = [r for r in one.runs if r["config"]["arch"] == "vgg16_1x1"]
    both = GridRecord("1x1", b_runs + c_runs, one.tier, f"{filters.source} and {one.source}")
    v = pair_claim(both, "paper", claim, "vgg13", "vgg16_1x1", "lower", "book/ablations")
    return LedgerRow(v.source, v.claim, v.verdict, v.evidence + paper, v.chapter, v.scale)


def computed_claims() -> list[LedgerRow]:
    """The verdicts computed now, from the configurations, quoted sources and a small untrained
    net (no recorded run, no saved net)."""
    return [check() for check in STATIC_CHECKS] + [position_information()[0]]


LEDGER_COLUMNS = ("source", "claim", "verdict", "evidence", "chapter", "scale")


def ledger(verdicts: list[LedgerRow]) -> pd.DataFrame:
    """The ledger as a table, one row per verdict (columns ``LEDGER_COLUMNS``), in the form
    ``recorded.export_table`` writes to ``results/tables/claims.csv``."""
    rows = [asdict(v) | {"verdict": str(v.verdict)} for v in verdicts]
    return pd.DataFrame(rows, columns=list(LEDGER_COLUMNS))
