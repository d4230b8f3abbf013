"""A cheap mutation check: do the fast tests catch small, realistic bugs?

Each mutant is one small change to one file of ``src/vggrepro`` (an off-by-one, an inverted
comparison, a dropped check, a wrong default...), written as the exact text it replaces, which
must occur exactly once. For each mutant in turn the script copies ``src/`` into a temporary
folder, plants the change there, and runs the test files that cover the mutated file
(``COVERING``) against the copy (``PYTHONPATH`` points at it, so the copy shadows the installed
package; the real ``src/`` is never written). A mutant is caught when those tests fail. It then
prints one row per mutant and the catch rate.

Eighteen sets, and all of them:

- ``fresh`` (the default): bugs of the usual kinds in places the planted bugs of issue 12 did not
  touch, for an honest estimate of what the fast suite catches;
- ``issue``: the kinds of planted bug that issue 12 reports the fast suite missed, where it found
  them and in a few more places, kept as a regression check of the tests written for them.
- ``round2``: a blind second round of the usual kinds, chosen from the source alone without
  reading the tests, spread over the modules the first two sets leave alone (the CLI, data,
  grids, retests, recorded runs, tables, claims, features...), for a fresh estimate of what
  the suite catches in code nobody wrote a test against a planted bug for;
- ``round3``: a blind third round of the same kinds, again chosen from the source alone, one or
  two per module in places none of the other sets touch;
- ``round4``: a blind fourth round of the same kinds, chosen from the source alone, one in every
  module the fast suite covers (two in the training loop and the statistics) at lines none of
  the other sets touch, for a further honest estimate of what the fast suite catches;
- ``round5``: a blind fifth round of the same kinds, chosen from the source alone, at most two
  in a module, weighted towards the distributed ImageNet code, the presets, checkpoints, the
  results schema and the verdicts, at lines none of the other sets touch;
- ``round6``: a blind sixth round of the same kinds, chosen from the source alone by a helper
  that read no test, weighted towards the modules the other sets touched least;
- ``round7``: a blind seventh round of the same kinds, chosen from the source alone by a helper
  that read no test, spread evenly over the package, its places unknown to whoever wrote tests
  until it was measured;
- ``round8``: a blind eighth round, chosen and kept unseen as the seventh was;
- ``round9``: a blind ninth round, chosen and kept unseen in the same way;
- ``round10``: a blind tenth round, chosen and kept unseen in the same way;
- ``round11``: a blind eleventh round, chosen and kept unseen in the same way;
- ``round12``: a blind twelfth round, chosen and kept unseen in the same way;
- ``round13``: a blind thirteenth round, chosen and kept unseen in the same way;
- ``round14``: a blind fourteenth round, chosen and kept unseen in the same way;
- ``round15``: a blind fifteenth round, chosen and kept unseen in the same way;
- ``round16``: a blind sixteenth round, chosen and kept unseen in the same way;
- ``round17``: a blind seventeenth round, chosen and kept unseen in the same way;
- ``all``: the eighteen together.

Run from the checkout root (it takes tens of minutes on two CPU cores; one mutant at a time)::

    nice -n 19 .venv/bin/python benchmarks/mutants.py                # the fresh set
    .venv/bin/python benchmarks/mutants.py --set issue               # issue 12's planted bugs
    .venv/bin/python benchmarks/mutants.py --set round2              # the blind second round
    .venv/bin/python benchmarks/mutants.py --set round3              # the blind third round
    .venv/bin/python benchmarks/mutants.py --set round4              # the blind fourth round
    .venv/bin/python benchmarks/mutants.py --set round5              # the blind fifth round
    .venv/bin/python benchmarks/mutants.py --set round6 --make-test  # sixth, as make test sees it
    .venv/bin/python benchmarks/mutants.py --set round7 --make-test  # the blind seventh round
    .venv/bin/python benchmarks/mutants.py --set round8 --make-test --book  # all of make test
    .venv/bin/python benchmarks/mutants.py --set round9 --make-test --book  # the blind ninth round
    .venv/bin/python benchmarks/mutants.py --set round10 --make-test --book  # the tenth
    .venv/bin/python benchmarks/mutants.py --set round11 --make-test --book  # the eleventh
    .venv/bin/python benchmarks/mutants.py --set round12 --make-test --book  # the twelfth
    .venv/bin/python benchmarks/mutants.py --set round13 --make-test --book  # the thirteenth
    .venv/bin/python benchmarks/mutants.py --set round14 --make-test --book  # the fourteenth
    .venv/bin/python benchmarks/mutants.py --set round15 --make-test --book  # the fifteenth
    .venv/bin/python benchmarks/mutants.py --set round16 --make-test --book  # the sixteenth
    .venv/bin/python benchmarks/mutants.py --set round17 --make-test --book  # the seventeenth
    .venv/bin/python benchmarks/mutants.py --only step-milestone-off-by-one --no-baseline
    .venv/bin/python benchmarks/mutants.py --list                    # names, nothing run

``--tests`` runs other test files or node ids instead of the covering ones; ``--slow`` includes
the tests marked slow (the fast suite leaves them out). ``--make-test`` runs each mutant the
covering tests miss once more, against every test ``make test`` runs before its book build (slow
ones included): the catch rate of ``make test`` short of the book build; with ``--book`` a
mutant that survives goes on to the book build (warnings as errors) and the browser tests, the
rest of ``make test`` (``--book-only`` runs that stage alone, e.g. for the survivors of an
earlier run; it needs a clean checkout and restores what the build changed). Unless
``--no-baseline``, the covering tests first run once against an unmutated copy: a mutant is only
"caught" if they passed there.
``--checkout DIR`` runs another folder's tests against the mutants, e.g. an older commit's, for a
before-and-after comparison::

    mkdir /tmp/before && git archive HEAD tests pyproject.toml | tar -x -C /tmp/before
    .venv/bin/python benchmarks/mutants.py --set issue --checkout /tmp/before
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("src") / "vggrepro"


@dataclass(frozen=True)
class Mutant:
    """Replace ``old`` (which must occur exactly once) by ``new`` in ``src/vggrepro/<file>``."""

    name: str
    file: str
    old: str
    new: str
    kind: str


FRESH: tuple[Mutant, ...] = (
    # train.py: schedules, checks and bookkeeping
    Mutant(
        "step-milestone-off-by-one",
        "engine/presets.py",
        "[max(1, round(m * self.epochs)) for m in self.milestones]",
        "[max(1, round(m * self.epochs) + 1) for m in self.milestones]",
        "off-by-one",
    ),
    Mutant(
        "planned-drops-counts-the-last-epoch",
        "engine/presets.py",
        "for e in self.drop_epochs() if e < self.epochs}",
        "for e in self.drop_epochs() if e <= self.epochs}",
        "boundary",
    ),
    Mutant(
        "plateau-floor-one-drop-too-low",
        "engine/train.py",
        "for _ in range(max_drops):",
        "for _ in range(max_drops + 1):",
        "off-by-one",
    ),
    Mutant(
        "stalled-run-left-untested",
        "engine/train.py",
        'trained = status != "diverged"',
        'trained = status == "completed"',
        "inverted condition",
    ),
    Mutant(
        "images-per-s-counts-one-epoch",
        "engine/train.py",
        "// cfg.batch_size * cfg.batch_size * len(history)",
        "// cfg.batch_size * cfg.batch_size",
        "dropped factor",
    ),
    Mutant(
        "full-batch-check-off-by-one",
        "engine/train.py",
        "if len(train[1]) < cfg.batch_size:",
        "if len(train[1]) <= cfg.batch_size:",
        "boundary",
    ),
    Mutant(
        "resume-without-scheduler-state",
        "engine/train.py",
        '"optimizer": self.opt, "scheduler": self.scheduler,',
        '"optimizer": self.opt,',
        "dropped call",
    ),
    Mutant(
        "resume-repeats-an-epoch",
        "engine/checkpoint.py",
        'return {k: state[k] for k in ("epoch", "history", "train_time", "wall_time")}',
        'return {k: state[k] for k in ("history", "train_time", "wall_time")}'
        ' | {"epoch": state["epoch"] - 1}',
        "off-by-one",
    ),
    # evaluate.py: the test-time protocols
    Mutant(
        "multi-crop-loses-the-far-row",
        "engine/evaluate.py",
        "ys = sorted({0, (h - size) // 2, h - size})",
        "ys = sorted({0, (h - size) // 2})",
        "dropped case",
    ),
    Mutant(
        "multi-scale-keeps-only-the-last-scale",
        "engine/evaluate.py",
        'views["dense multi-scale"] = torch.stack(dense_all).mean(0)',
        'views["dense multi-scale"] = dense_all[-1]',
        "wrong aggregate",
    ),
    Mutant(
        "test-time-dropout-left-on",
        "engine/evaluate.py",
        "    model.eval()\n    dense = to_dense(model).eval()",
        "    dense = to_dense(model)",
        "dropped call",
    ),
    # loader.py: augmentation and resumable state
    Mutant(
        "crop-never-at-the-last-row",
        "engine/loader.py",
        "top = torch.randint(0, h - height + 1,",
        "top = torch.randint(0, h - height,",
        "off-by-one",
    ),
    Mutant(
        "eval-batches-one-too-many",
        "engine/loader.py",
        "else -(-n // self.batch_size)",
        "else n // self.batch_size + 1",
        "off-by-one",
    ),
    Mutant(
        "loader-state-not-restored",
        "engine/loader.py",
        'self.generator.set_state(state["generator"].cpu())',
        "self.generator.get_state()",
        "dropped call",
    ),
    # results.py: schema and tables
    Mutant(
        "diverged-at-epoch-zero-accepted",
        "results/schema.py",
        '{"type": ["integer", "null"], "minimum": 1}',
        '{"type": ["integer", "null"], "minimum": 0}',
        "loosened bound",
    ),
    Mutant(
        "completed-run-without-metrics-accepted",
        "results/schema.py",
        'if result["status"] != "diverged" and not result["test"]:',
        "if False:",
        "dropped validation",
    ),
    Mutant(
        "zero-learning-rate-accepted",
        "results/schema.py",
        '"lr": {"type": "number", "exclusiveMinimum": 0}',
        '"lr": {"type": "number", "minimum": 0}',
        "loosened bound",
    ),
    Mutant(
        "aggregate-counts-stalled-as-diverged",
        "results/io.py",
        '(s == "diverged").sum()',
        '(s != "completed").sum()',
        "wrong predicate",
    ),
    # stats.py
    Mutant(
        "pooled-std-divides-by-n",
        "report/significance.py",
        "            dof += n - 1\n",
        "            dof += n\n",
        "off-by-one",
    ),
    Mutant(
        "equal-rate-counted-as-a-drop",
        "report/training.py",
        'if b["lr"] < a["lr"]]',
        'if b["lr"] <= a["lr"]]',
        "boundary",
    ),
    # models.py, initialisation.py, configs.py, cost.py
    Mutant(
        "dense-head-keeps-a-final-relu",
        "arch/models.py",
        "self.head = nn.Sequential(*layers[:-2])",
        "self.head = nn.Sequential(*layers[:-1])",
        "off-by-one",
    ),
    Mutant(
        "kaiming-uses-fan-out",
        "arch/initialisation.py",
        'nn.init.kaiming_normal_(w, mode="fan_in"',
        'nn.init.kaiming_normal_(w, mode="fan_out"',
        "wrong default",
    ),
    Mutant(
        "width-truncates-channels",
        "arch/configs.py",
        "return round(c * self.width)",
        "return int(c * self.width)",
        "rounding",
    ),
    Mutant(
        "bias-adds-ignore-the-batch",
        "analysis/cost.py",
        "bias_adds = c * h * w * batch",
        "bias_adds = c * h * w",
        "dropped factor",
    ),
)
"""Bugs of the usual kinds, in places issue 12's planted bugs did not touch."""

ISSUE: tuple[Mutant, ...] = (
    Mutant(
        "no-weight-decay",
        "engine/train.py",
        "momentum=cfg.momentum, weight_decay=cfg.weight_decay",
        "momentum=cfg.momentum",
        "dropped argument",
    ),
    Mutant(
        "no-momentum",
        "engine/train.py",
        "lr=cfg.lr, momentum=cfg.momentum, weight_decay=",
        "lr=cfg.lr, weight_decay=",
        "dropped argument",
    ),
    Mutant(
        "plateau-mode-min",
        "engine/train.py",
        'opt, mode="max"',
        'opt, mode="min"',
        "inverted direction",
    ),
    Mutant(
        "resume-without-optimizer-state",
        "engine/train.py",
        '{"model": self.model, "optimizer": self.opt, ',
        '{"model": self.model, ',
        "dropped call",
    ),
    Mutant(
        "resume-without-rng-state",
        "engine/checkpoint.py",
        '    _set_rng_state(state["rng"], device)\n',
        "",
        "dropped call",
    ),
    Mutant(
        "normalisation-statistics-of-every-image",
        "engine/train.py",
        "mean, std = channel_stats(train[0])",
        "mean, std = channel_stats(data.train_images)",
        "wrong input",
    ),
    Mutant(
        "validation-images-trained-on",
        "engine/train.py",
        "train = _subset(train_x, train_y, cfg.n_train)",
        "train = _subset(data.train_images, data.train_labels, cfg.n_train)",
        "wrong input",
    ),
    Mutant(
        "flip-protocol-sees-the-unflipped-image",
        "engine/evaluate.py",
        "net(hflip(v)).float().softmax(1)",
        "net(v).float().softmax(1)",
        "dropped call",
    ),
    Mutant(
        "top5-counted-as-top1",
        "engine/evaluate.py",
        "c[1] += topk_correct(p, y, 5)",
        "c[1] += topk_correct(p, y, 1)",
        "wrong constant",
    ),
    Mutant(
        "one-flip-per-batch",
        "engine/loader.py",
        "mirror = torch.rand(len(x), device=self.device, generator=g) < 0.5",
        "mirror = (torch.rand(1, device=self.device, generator=g) < 0.5).expand(len(x))",
        "wrong shape",
    ),
    Mutant(
        "schema-field-dropped",
        "results/schema.py",
        'params: int = _field({"type": "integer", "minimum": 1})',
        "params: int = _field({})",
        "dropped field",
    ),
    Mutant(
        "provenance-field-dropped",
        "results/schema.py",
        '        "git_commit": {"type": "string"},\n',
        "",
        "dropped field",
    ),
    Mutant(
        "bool-accepted-as-number",
        "results/schema.py",
        '"train_loss": {"type": "number"}',
        '"train_loss": {"type": ["number", "boolean"]}',
        "loosened type",
    ),
    Mutant(
        "bool-accepted-as-integer",
        "results/schema.py",
        '"epoch": {"type": "integer", "minimum": 1}',
        '"epoch": {"type": ["integer", "boolean"], "minimum": 1}',
        "loosened type",
    ),
    Mutant(
        "t-test-df-off-by-one",
        "report/significance.py",
        "df = na + nb - 2",
        "df = na + nb - 1",
        "off-by-one",
    ),
    Mutant(
        "paired-df-off-by-one",
        "report/significance.py",
        "df=n - 1,",
        "df=n,",
        "off-by-one",
    ),
    Mutant(
        "t-critical-df-off-by-one",
        "report/significance.py",
        "distributions.t.ppf(0.5 + level / 2, df)",
        "distributions.t.ppf(0.5 + level / 2, df - 1)",
        "off-by-one",
    ),
    Mutant(
        "depth-effect-df-off-by-one",
        "report/depth.py",
        "dof = int(sum(n - 1 for n in per_arch",
        "dof = int(sum(n for n in per_arch",
        "off-by-one",
    ),
)
"""Issue 12's planted bugs that once passed the fast suite (re-planted here as the issue
describes them)."""

ROUND2: tuple[Mutant, ...] = (
    # cli.py: argument checks and export
    Mutant(
        "n-val-accepts-zero",
        "cli.py",
        "if value < 10 or value % 10:",
        "if value < 0 or value % 10:",
        "boundary",
    ),
    Mutant(
        "export-ignores-the-weights-digest",
        "cli.py",
        "if trained != model.spec or (recorded and recorded != weights_digest(model)):",
        "if trained != model.spec:",
        "dropped check",
    ),
    # data.py: the validation split and subsets
    Mutant(
        "split-refuses-a-class-of-exactly-enough",
        "engine/data.py",
        "if len(members) < per_class:",
        "if len(members) <= per_class:",
        "boundary",
    ),
    Mutant(
        "random-subset-left-unsorted",
        "engine/data.py",
        "return torch.randperm(total, generator=g)[:n].sort().values",
        "return torch.randperm(total, generator=g)[:n]",
        "dropped call",
    ),
    # grids.py: worker checks and reuse of recorded runs
    Mutant(
        "workers-equal-to-cores-refused",
        "engine/grids.py",
        "if not 1 <= workers <= cores:",
        "if not 1 <= workers < cores:",
        "boundary",
    ),
    Mutant(
        "stall-check-skips-the-whole-history",
        "engine/grids.py",
        "for end in range(len(history) + 1)",
        "for end in range(len(history))",
        "off-by-one",
    ),
    # retest.py
    Mutant(
        "retest-tolerance-one-sided",
        "engine/retest.py",
        "if abs(again - recorded) > AGAIN_TOLERANCE:",
        "if again - recorded > AGAIN_TOLERANCE:",
        "dropped call",
    ),
    Mutant(
        "retest-ignores-shared-with",
        "engine/retest.py",
        "f\"{result.get('shared_with', result['run_id'])}.model.pt\"",
        "f\"{result['run_id']}.model.pt\"",
        "dropped case",
    ),
    # recorded.py
    Mutant(
        "load-grid-ignores-required-protocols",
        "results/recorded.py",
        "if record.runs and record.tested_with(require):",
        "if record.runs:",
        "dropped check",
    ),
    Mutant(
        "wall-time-averaged-not-summed",
        "results/recorded.py",
        'wall_time_s=("wall_time_s", "sum"),',
        'wall_time_s=("wall_time_s", "mean"),',
        "wrong aggregate",
    ),
    # tables.py
    Mutant(
        "missing-cells-left-as-nan",
        "report/tables.py",
        "return out.astype(object).where(out.notna(), missing)",
        "return out.astype(object).where(out.notna())",
        "dropped argument",
    ),
    # stats.py: functions the other sets leave alone
    Mutant(
        "seed-std-uses-numpy-default-ddof",
        "report/significance.py",
        "return float(values.std(ddof=1)) if len(values) > 1 else math.nan",
        "return float(values.std()) if len(values) > 1 else math.nan",
        "wrong default",
    ),
    Mutant(
        "relative-difference-of-arm-b",
        "report/significance.py",
        "return 100 * self.diff / self.mean_a if self.mean_a else math.nan",
        "return 100 * self.diff / self.mean_b if self.mean_a else math.nan",
        "wrong operand",
    ),
    # ablations.py
    Mutant(
        "chance-margin-as-a-fraction",
        "report/ablations.py",
        "return z * 100 * math.sqrt(p * (1 - p) / n_test)",
        "return z * math.sqrt(p * (1 - p) / n_test)",
        "dropped factor",
    ),
    Mutant(
        "protocol-gain-sign-flipped",
        "report/ablations.py",
        '"gain mean (points)": -c.diff,',
        '"gain mean (points)": c.diff,',
        "sign flip",
    ),
    # claims.py
    Mutant(
        "ordinal-eleventh-as-11st",
        "report/claims.py",
        'suffix = "th" if 10 <= n % 100 <= 20 else',
        'suffix = "th" if 10 <= n % 10 <= 20 else',
        "wrong constant",
    ),
    Mutant(
        "c-beats-b-across-tiers",
        "report/claims.py",
        "if differences or filters.tier != one.tier:",
        "if differences:",
        "dropped check",
    ),
    # features.py
    Mutant(
        "finished-run-called-undertrained",
        "report/features.py",
        'return self.smoke or self.epochs < self.result["config"]["epochs"]',
        'return self.smoke or self.epochs <= self.result["config"]["epochs"]',
        "boundary",
    ),
    Mutant(
        "probe-drop-check-reads-rises",
        "report/features.py",
        "drops = [_gap(acc[i], acc[i + 1], se[i], se[i + 1]) > z",
        "drops = [_gap(acc[i + 1], acc[i], se[i + 1], se[i]) > z",
        "swapped arguments",
    ),
    # receptive.py, summary.py
    Mutant(
        "measured-field-height-one-short",
        "analysis/receptive.py",
        "height, width = rows[-1] - rows[0] + 1,",
        "height, width = rows[-1] - rows[0],",
        "off-by-one",
    ),
    Mutant(
        "table1-blank-cell-past-the-end",
        "analysis/summary.py",
        "if i >= len(stage):",
        "if i > len(stage):",
        "boundary",
    ),
    # evaluate.py (another place), provenance.py, chapters.py
    Mutant(
        "multi-crop-at-the-training-scale",
        "engine/evaluate.py",
        "if q > size:",
        "if q >= size:",
        "boundary",
    ),
    Mutant(
        "commit-override-claims-a-clean-tree",
        "engine/provenance.py",
        'return os.environ["VGGREPRO_GIT_COMMIT"], None',
        'return os.environ["VGGREPRO_GIT_COMMIT"], False',
        "wrong default",
    ),
    Mutant(
        "chapters-without-code-cells-listed",
        "chapters.py",
        'return sorted(p.stem for p in book.glob("*.md") if "```{code-cell}" in p.read_text())',
        'return sorted(p.stem for p in book.glob("*.md"))',
        "dropped check",
    ),
)
"""A blind second round: bugs of the usual kinds, chosen from the source alone (no test was
read), mostly in modules the other two sets do not touch, for an honest estimate of what the
fast suite catches in code nobody wrote a test against a planted bug for."""

ROUND3: tuple[Mutant, ...] = (
    # train.py: presets and the recorded history
    Mutant(
        "plain-net-rate-overrides-the-given-lr",
        "engine/presets.py",
        'if not options.get("batch_norm", False) and name in PLAIN_LR and "lr" not in overrides:',
        'if not options.get("batch_norm", False) and name in PLAIN_LR:',
        "dropped check",
    ),
    Mutant(
        "history-records-the-rate-after-the-drop",
        "engine/train.py",
        '    lr = run.opt.param_groups[0]["lr"]\n'
        '    if cfg.schedule == "plateau":\n'
        "        run.scheduler.step(val_acc)\n"
        "    else:\n"
        "        run.scheduler.step()\n",
        '    if cfg.schedule == "plateau":\n'
        "        run.scheduler.step(val_acc)\n"
        "    else:\n"
        "        run.scheduler.step()\n"
        '    lr = run.opt.param_groups[0]["lr"]\n',
        "wrong order",
    ),
    # evaluate.py
    Mutant(
        "dense-plus-multi-crop-is-multi-crop-alone",
        "engine/evaluate.py",
        'views["dense + multi-crop"] = (views["multi-crop"] + views["dense multi-scale"]) / 2',
        'views["dense + multi-crop"] = views["multi-crop"]',
        "wrong aggregate",
    ),
    Mutant(
        "evaluate-leaves-the-net-in-eval-mode",
        "engine/evaluate.py",
        "    model.train(was_training)\n    if total == 0:",
        "    if total == 0:",
        "dropped call",
    ),
    # loader.py, data.py, grids.py, cli.py
    Mutant(
        "jitter-never-draws-smax",
        "engine/loader.py",
        "scales = torch.randint(smin, smax + 1,",
        "scales = torch.randint(smin, smax,",
        "off-by-one",
    ),
    Mutant(
        "hidden-only-when-every-part-is",
        "engine/data.py",
        'return any(part.startswith(".") for part in parts)',
        'return all(part.startswith(".") for part in parts)',
        "wrong aggregate",
    ),
    Mutant(
        "recorded-run-reused-on-other-data",
        "engine/grids.py",
        'return recorded == wanted and result["data"]["checksum"] == data.checksum',
        "return recorded == wanted",
        "dropped check",
    ),
    Mutant(
        "size-check-counts-weights-only",
        "cli.py",
        "need, have = params * 4 * 3, _memory(device)",
        "need, have = params * 4, _memory(device)",
        "dropped factor",
    ),
    # results.py, recorded.py
    Mutant(
        "best-val-acc-is-the-worst",
        "results/io.py",
        '"best_val_acc": max((h["val_acc"] for h in r["history"]), default=math.nan)',
        '"best_val_acc": min((h["val_acc"] for h in r["history"]), default=math.nan)',
        "wrong aggregate",
    ),
    Mutant(
        "smoke-runs-counted-as-a-recorded-tier",
        "results/recorded.py",
        'runs = load_tier(results / folder / grid, tier) if tier != "smoke" else []',
        "runs = load_tier(results / folder / grid, tier)",
        "dropped check",
    ),
    # stats.py
    Mutant(
        "final-fit-reads-the-first-epoch",
        "report/training.py",
        'curves.groupby("run_id")["epoch"].transform("max")',
        'curves.groupby("run_id")["epoch"].transform("min")',
        "wrong aggregate",
    ),
    Mutant(
        "all-drops-made-counted-as-cut-short",
        "report/training.py",
        'full = done["lr_drops"] >= done["planned_drops"]',
        'full = done["lr_drops"] > done["planned_drops"]',
        "boundary",
    ),
    # ablations.py, claims.py, features.py
    Mutant(
        "variance-gain-counts-the-first-conv",
        "report/ablations.py",
        "for ly in convs[1:])",
        "for ly in convs)",
        "off-by-one",
    ),
    Mutant(
        "depth-claim-reproduced-by-one-setting",
        "report/claims.py",
        "    verdict = _grade(falls)\n",
        "    verdict = _grade([any(falls)])\n",
        "wrong aggregate",
    ),
    Mutant(
        "fewest-epochs-checkpoint-first",
        "report/features.py",
        "key=lambda i: (found[i].smoke, -found[i].epochs, error[i])",
        "key=lambda i: (found[i].smoke, found[i].epochs, error[i])",
        "sign flip",
    ),
    # cost.py, receptive.py, models.py, configs.py, initialisation.py
    Mutant(
        "fvcore-batch-norm-counts-one-per-element",
        "analysis/cost.py",
        "fvcore = 2 * c * h * w * batch",
        "fvcore = c * h * w * batch",
        "dropped factor",
    ),
    Mutant(
        "measured-field-of-the-layer-before",
        "analysis/receptive.py",
        "net = probe(features)[: index + 1]",
        "net = probe(features)[:index]",
        "off-by-one",
    ),
    Mutant(
        "dense-scores-max-pooled",
        "arch/models.py",
        "return self.score_map(x).mean(dim=(2, 3))",
        "return self.score_map(x).amax(dim=(2, 3))",
        "wrong aggregate",
    ),
    Mutant(
        "dropout-of-one-accepted",
        "arch/configs.py",
        "if not 0.0 <= self.dropout < 1.0:",
        "if not 0.0 <= self.dropout <= 1.0:",
        "boundary",
    ),
    Mutant(
        "warm-start-copies-three-convs",
        "arch/initialisation.py",
        "def warm_start(model: VGG, source: VGG, n_conv: int = 4)",
        "def warm_start(model: VGG, source: VGG, n_conv: int = 3)",
        "wrong default",
    ),
    # summary.py, tables.py, retest.py, provenance.py
    Mutant(
        "table1-stage-as-short-as-its-shortest",
        "analysis/summary.py",
        "depth = max(len(stages[c][s]) for c in names)",
        "depth = min(len(stages[c][s]) for c in names)",
        "wrong aggregate",
    ),
    Mutant(
        "readable-keeps-the-columns-name",
        "report/tables.py",
        "    out.columns.name = None\n",
        "",
        "dropped call",
    ),
    Mutant(
        "retest-grid-repeats-retested-runs",
        "engine/retest.py",
        'if result["status"] == "diverged" or "retest" in result:',
        'if result["status"] == "diverged":',
        "dropped check",
    ),
    Mutant(
        "dirty-flag-counts-rewritten-results",
        "engine/provenance.py",
        '"--untracked-files=no", "--", ".", ":!results"]',
        '"--untracked-files=no", "--", "."]',
        "dropped argument",
    ),
)
"""A blind third round: 24 more bugs of the usual kinds, chosen from the source alone (no test
was read), one or two per module in places the other three sets do not touch, for a further
honest estimate of what the fast suite catches."""

ROUND4: tuple[Mutant, ...] = (
    # train.py: the stall rule and the divergence record
    Mutant(
        "stall-margin-ignored",
        "engine/presets.py",
        'h["train_acc"] <= 1 / classes + STALL_MARGIN',
        'h["train_acc"] <= 1 / classes',
        "dropped term",
    ),
    Mutant(
        "diverged-epoch-counted-from-zero",
        "engine/train.py",
        'status, diverged_epoch = "diverged", epoch + 1',
        'status, diverged_epoch = "diverged", epoch',
        "off-by-one",
    ),
    # evaluate.py, loader.py
    Mutant(
        "flip-protocol-is-the-flipped-view-alone",
        "engine/evaluate.py",
        'views = {"centre": centre, "flip": (centre + flipped) / 2}',
        'views = {"centre": centre, "flip": flipped}',
        "wrong aggregate",
    ),
    Mutant(
        "normalise-forgets-the-255",
        "engine/loader.py",
        "return (images.float() / 255 - m) / s",
        "return (images.float() - m) / s",
        "wrong unit",
    ),
    # results.py, models.py, initialisation.py, configs.py, cost.py
    Mutant(
        "csv-keeps-the-row-numbers",
        "results/io.py",
        'frame.to_csv(path, index=labelled, float_format="%.4f")',
        'frame.to_csv(path, index=True, float_format="%.4f")',
        "wrong argument",
    ),
    Mutant(
        "torchvision-name-drops-bn",
        "arch/models.py",
        'return TORCHVISION_NAMES[spec.config] + ("_bn" if spec.batch_norm else "")',
        "return TORCHVISION_NAMES[spec.config]",
        "dropped case",
    ),
    Mutant(
        "fc-layers-keep-the-default-init",
        "arch/initialisation.py",
        "if isinstance(m, nn.Conv2d | nn.Linear):",
        "if isinstance(m, nn.Conv2d):",
        "dropped case",
    ),
    Mutant(
        "fc-input-forgets-the-square",
        "arch/configs.py",
        "fc_in = self.final_channels * self.final_map**2",
        "fc_in = self.final_channels * self.final_map",
        "dropped factor",
    ),
    Mutant(
        "receptive-field-grows-by-the-stride",
        "analysis/cost.py",
        "return rf + (kernel - 1) * jump, jump * stride",
        "return rf + (kernel - 1) * stride, jump * stride",
        "wrong operand",
    ),
    # cli.py, data.py, grids.py, retest.py, recorded.py
    Mutant(
        "positive-float-accepts-zero",
        "cli.py",
        "if not 0 < value < math.inf:",
        "if not 0 <= value < math.inf:",
        "boundary",
    ),
    Mutant(
        "channel-std-is-the-variance",
        "engine/data.py",
        "std = (squares / count - mean.square()).clamp_min(0).sqrt()",
        "std = (squares / count - mean.square()).clamp_min(0)",
        "dropped call",
    ),
    Mutant(
        "warm-start-compared-by-full-path",
        "engine/grids.py",
        '"warm_start": Path(warm).name if warm else warm}',
        '"warm_start": warm}',
        "dropped call",
    ),
    Mutant(
        "retest-overwrites-recorded-protocols",
        "engine/retest.py",
        'added = {name: metrics for name, metrics in test.items() if name not in result["test"]}',
        "added = dict(test)",
        "dropped check",
    ),
    Mutant(
        "tested-with-subset-reversed",
        "results/recorded.py",
        'return all(set(protocols) <= set(r["test"]) for r in done)',
        'return all(set(r["test"]) <= set(protocols) for r in done)',
        "swapped operands",
    ),
    # tables.py, chapters.py, ablations.py, claims.py, features.py
    Mutant(
        "readable-keeps-row-numbers-as-a-column",
        "report/tables.py",
        "out = out.reset_index(drop=True)",
        "out = out.reset_index()",
        "dropped argument",
    ),
    Mutant(
        "unknown-chapter-not-refused",
        "chapters.py",
        "    if name not in names:\n"
        "        raise ValueError(f\"unknown chapter {name!r}; valid: {', '.join(names)}\")\n",
        "",
        "dropped check",
    ),
    Mutant(
        "trained-within-the-chance-margin",
        "report/ablations.py",
        "err < chance - margin:",
        "err < chance + margin:",
        "sign flip",
    ),
    Mutant(
        "fc-share-one-sided",
        "report/claims.py",
        "FC_BAND = (0.70, 0.90)",
        "FC_BAND = (0.0, 0.90)",
        "missing abs",
    ),
    Mutant(
        "top-k-least-exciting-first",
        "report/features.py",
        "order = torch.argsort(-scores, dim=1, stable=True)",
        "order = torch.argsort(scores, dim=1, stable=True)",
        "sign flip",
    ),
    # receptive.py, summary.py, provenance.py
    Mutant(
        "single-kernel-one-short",
        "analysis/receptive.py",
        "k = 2 * n + 1",
        "k = 2 * n",
        "off-by-one",
    ),
    Mutant(
        "module-path-reversed",
        "analysis/summary.py",
        'return ".".join(reversed(names))',
        'return ".".join(names)',
        "dropped call",
    ),
    Mutant(
        "timestamps-without-a-timezone",
        "engine/provenance.py",
        'return datetime.now(UTC).isoformat(timespec="seconds")',
        'return datetime.now().isoformat(timespec="seconds")',
        "dropped argument",
    ),
    # stats.py: the t-test rule and the depth verdict
    Mutant(
        "clear-difference-one-sided",
        "report/significance.py",
        "return self.testable and abs(self.t) > self.t_crit",
        "return self.testable and self.t > self.t_crit",
        "missing abs",
    ),
    Mutant(
        "depth-falls-inside-the-noise",
        "report/depth.py",
        'trend = "falls" if t < -crit else',
        'trend = "falls" if t < crit else',
        "sign flip",
    ),
)
"""A blind fourth round: 24 more bugs of the usual kinds, chosen from the source alone (no test
was read), one in each module the fast suite covers (two in train.py and stats.py) at lines the
other four sets do not touch, for a further honest estimate of what the fast suite catches."""

ROUND5: tuple[Mutant, ...] = (
    # distributed.py, checkpoint.py: the world and resuming
    Mutant(
        "rank-may-equal-the-world-size",
        "engine/distributed.py",
        "if not (0 <= rank < size and 0 <= local <= rank):",
        "if not (0 <= rank <= size and 0 <= local <= rank):",
        "boundary",
    ),
    Mutant(
        "agree-forgets-the-negated-maximum",
        "engine/distributed.py",
        "lowest, highest = int(low[0]), -int(low[1])",
        "lowest, highest = int(low[0]), int(low[1])",
        "sign flip",
    ),
    Mutant(
        "checkpoint-of-another-run-resumed",
        "engine/checkpoint.py",
        "if not all(state.get(k) == v for k, v in run.items()):",
        "if not any(state.get(k) == v for k, v in run.items()):",
        "wrong operator",
    ),
    # imagenet.py, ddp.py: the ImageFolder data and the distributed loop
    Mutant(
        "stranger-classes-looked-up-backwards",
        "engine/imagenet.py",
        'strangers = [c for c in found["val"] if c not in found["train"]]',
        'strangers = [c for c in found["train"] if c not in found["val"]]',
        "swapped operands",
    ),
    Mutant(
        "imagenet-rescale-fits-the-longer-side",
        "engine/imagenet.py",
        "size = [round(h * shorter / min(h, w)), round(w * shorter / min(h, w))]",
        "size = [round(h * shorter / max(h, w)), round(w * shorter / max(h, w))]",
        "wrong function",
    ),
    Mutant(
        "ddp-top5-error-counts-top1",
        "engine/ddp.py",
        '"top5_error": 100 * (1 - c5 / n)}',
        '"top5_error": 100 * (1 - c1 / n)}',
        "wrong key",
    ),
    Mutant(
        "ddp-last-step-never-summed",
        "engine/ddp.py",
        "if i % 50 == 0 or i == steps:",
        "if i % 50 == 0:",
        "dropped case",
    ),
    # presets.py: divergence and the ImageNet test scales
    Mutant(
        "divergence-needs-both-nan-and-large",
        "engine/presets.py",
        "return not math.isfinite(mean_loss) or mean_loss > DIVERGED_LOSS",
        "return not math.isfinite(mean_loss) and mean_loss > DIVERGED_LOSS",
        "wrong operator",
    ),
    Mutant(
        "jittered-test-scales-centre-on-s",
        "engine/presets.py",
        "return (self.jitter[0], self.single_scale(), self.jitter[1])",
        "return (self.jitter[0], self.scale, self.jitter[1])",
        "wrong key",
    ),
    # schema.py, io.py: results files
    Mutant(
        "accuracy-allowed-up-to-a-hundred",
        "results/schema.py",
        '_SHARE = {"type": "number", "minimum": 0, "maximum": 1}',
        '_SHARE = {"type": "number", "minimum": 0, "maximum": 100}',
        "wrong unit",
    ),
    Mutant(
        "model-digest-required-of-old-files",
        "results/schema.py",
        '_OPTIONAL = ("model_sha256", "retest", "probe")',
        '_OPTIONAL = ("retest", "probe")',
        "dropped case",
    ),
    Mutant(
        "frame-top5-reads-top1",
        "results/io.py",
        'row[f"{protocol}/top5"] = m["top5_error"]',
        'row[f"{protocol}/top5"] = m["top1_error"]',
        "wrong key",
    ),
    # significance.py, depth.py, training.py: the verdicts
    Mutant(
        "paired-standard-error-without-the-root",
        "report/significance.py",
        "se=noise / math.sqrt(n) if n else math.nan",
        "se=noise / n if n else math.nan",
        "dropped call",
    ),
    Mutant(
        "not-lower-contradicted-by-higher",
        "report/significance.py",
        "status = Status.CONTRADICTED if went_lower else Status.SUPPORTED",
        "status = Status.CONTRADICTED if went_higher else Status.SUPPORTED",
        "wrong key",
    ),
    Mutant(
        "monotonic-when-any-step-falls",
        "report/depth.py",
        '"monotonic": bool(steps) and all(s[2] < 0 for s in steps)',
        '"monotonic": bool(steps) and any(s[2] < 0 for s in steps)',
        "wrong function",
    ),
    Mutant(
        "saturation-one-sided",
        "report/depth.py",
        "if abs(last) <= crit:",
        "if last <= crit:",
        "missing abs",
    ),
    Mutant(
        "best-epoch-is-the-worst",
        "report/training.py",
        'best = max(h, key=lambda e: e["val_acc"]) if h else None',
        'best = min(h, key=lambda e: e["val_acc"]) if h else None',
        "wrong function",
    ),
    Mutant(
        "epochs-run-is-the-budget",
        "report/training.py",
        '"epochs_run": len(h),',
        '"epochs_run": c["epochs"],',
        "wrong key",
    ),
    # data.py, loader.py, evaluate.py, cost.py, cli.py
    Mutant(
        "channel-stats-count-every-channel",
        "engine/data.py",
        "count = images.numel() // images.shape[1]",
        "count = images.numel()",
        "wrong unit",
    ),
    Mutant(
        "loader-rescale-fits-the-longer-side",
        "engine/loader.py",
        "shorter = min(h, w)",
        "shorter = max(h, w)",
        "wrong function",
    ),
    Mutant(
        "top-k-needs-every-guess-right",
        "engine/evaluate.py",
        "return int((top == labels[:, None]).any(dim=1).sum())",
        "return int((top == labels[:, None]).all(dim=1).sum())",
        "wrong function",
    ),
    Mutant(
        "folder-flip-averaged-over-images",
        "engine/evaluate.py",
        'views[f"dense@{q}+flip"] = both.mean(1)',
        'views[f"dense@{q}+flip"] = both.mean(0)',
        "wrong axis",
    ),
    Mutant(
        "flops-are-macs",
        "analysis/cost.py",
        'return 2 * int(layer_table(spec, batch)["macs"].sum())',
        'return int(layer_table(spec, batch)["macs"].sum())',
        "dropped factor",
    ),
    Mutant(
        "positive-int-accepts-zero",
        "cli.py",
        '    if value < 1:\n        raise argparse.ArgumentTypeError(f"must be a positive integer',
        '    if value < 0:\n        raise argparse.ArgumentTypeError(f"must be a positive integer',
        "boundary",
    ),
)
"""A blind fifth round: 24 more bugs of the usual kinds, chosen from the source alone (no test
was read), at most two in a module, weighted towards the distributed ImageNet code, the presets,
checkpoints, the results schema and the verdicts, at lines the other five sets do not touch, for
a further honest estimate of what the fast suite catches."""

ROUND6: tuple[Mutant, ...] = (
    Mutant(
        "h200-peak-counts-sparsity",
        "reference.py",
        '("H200", 1979 / 2),',
        '("H200", 1979),',
        "dropped factor",
    ),
    Mutant(
        "project-root-needs-only-one-marker",
        "files.py",
        'if (folder / "_config.yml").is_file() and (folder / "results").is_dir():',
        'if (folder / "_config.yml").is_file() or (folder / "results").is_dir():',
        "wrong condition",
    ),
    Mutant(
        "atomic-write-leaves-files-private",
        "files.py",
        "        os.chmod(tmp, 0o644)  # mkstemp creates 0o600\n",
        "",
        "missing step",
    ),
    Mutant(
        "saved-nets-default-to-half-precision",
        "engine/nets.py",
        "def save_model(model: VGG, path: Path, dtype: torch.dtype = torch.float32) -> Path:",
        "def save_model(model: VGG, path: Path, dtype: torch.dtype = torch.float16) -> Path:",
        "wrong default",
    ),
    Mutant(
        "weights-digest-skips-the-buffers",
        "engine/nets.py",
        "for name, tensor in model.state_dict().items():",
        "for name, tensor in model.named_parameters():",
        "wrong collection",
    ),
    Mutant(
        "soft-max-box-drawn-as-a-map",
        "analysis/figures.py",
        'height = vector_height if key in ("FC", "soft-max") else',
        'height = vector_height if key == "FC" else',
        "wrong condition",
    ),
    Mutant(
        "uneven-global-batch-accepted",
        "engine/distributed.py",
        "    if global_batch % world.size:\n",
        "    if global_batch < world.size:\n",
        "dropped check",
    ),
    Mutant(
        "one-missing-rendezvous-variable-accepted",
        "engine/distributed.py",
        "    if missing:\n",
        "    if len(missing) > 1:\n",
        "boundary",
    ),
    Mutant(
        "ddp-loss-averaged-per-batch",
        "engine/ddp.py",
        "sums += torch.stack([loss.double() * len(y), hits.double()",
        "sums += torch.stack([loss.double(), hits.double()",
        "wrong reduction",
    ),
    Mutant(
        "ddp-resume-starts-at-epoch-zero",
        "engine/ddp.py",
        'for epoch in range(done["epoch"], cfg.epochs):',
        "for epoch in range(cfg.epochs):",
        "off-by-one",
    ),
    Mutant(
        "colour-shift-scaled-by-the-eigenvalue",
        "engine/imagenet.py",
        "spread = torch.tensor(stats.eigenvalues, dtype=torch.float32).sqrt()",
        "spread = torch.tensor(stats.eigenvalues, dtype=torch.float32)",
        "dropped step",
    ),
    Mutant(
        "image-covariance-forgets-the-mean",
        "engine/imagenet.py",
        "cov = total[4:].view(3, 3) / count - torch.outer(mean, mean)",
        "cov = total[4:].view(3, 3) / count",
        "dropped term",
    ),
    Mutant(
        "measured-field-may-touch-the-border",
        "analysis/receptive.py",
        "if rows[0] > 0 and cols[0] > 0 and rows[-1] < last and cols[-1] < last:",
        "if rows[0] >= 0 and cols[0] >= 0 and rows[-1] <= last and cols[-1] <= last:",
        "boundary",
    ),
    Mutant(
        "stack-weights-count-one-layer",
        "analysis/receptive.py",
        "weights_stack = n * 3 * 3 * channels * channels",
        "weights_stack = 3 * 3 * channels * channels",
        "dropped factor",
    ),
    Mutant(
        "torchvision-twin-compared-in-train-mode",
        "analysis/summary.py",
        "    model.load_state_dict(state, strict=True)\n    model.eval()\n",
        "    model.load_state_dict(state, strict=True)\n",
        "missing .eval()",
    ),
    Mutant(
        "weight-layers-count-two-fc",
        "arch/configs.py",
        "for stage in stages for layer in stage) + 3",
        "for stage in stages for layer in stage) + 2",
        "off-by-one",
    ),
    Mutant(
        "warm-start-skips-the-biases",
        "arch/initialisation.py",
        "            dst.bias.copy_(src_layer.bias)\n",
        "",
        "missing step",
    ),
    Mutant(
        "lrn-alpha-not-scaled-by-the-window",
        "arch/models.py",
        'alpha=LRN_PARAMS["alpha"] * size,',
        'alpha=LRN_PARAMS["alpha"],',
        "dropped factor",
    ),
    Mutant(
        "checkpoint-saved-without-its-identity",
        "engine/checkpoint.py",
        "state = {**run, **{k: p.state_dict() for k, p in parts.items()}, **progress}",
        "state = {**{k: p.state_dict() for k, p in parts.items()}, **progress}",
        "dropped key",
    ),
    Mutant(
        "default-device-inverted",
        "engine/provenance.py",
        'return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))',
        'return torch.device(name or ("cpu" if torch.cuda.is_available() else "cuda"))',
        "inverted condition",
    ),
    Mutant(
        "html-ignores-the-missing-marker",
        "report/tables.py",
        "shown = readable(frame, missing)",
        "shown = readable(frame)",
        "dropped argument",
    ),
    Mutant(
        "jitter-below-32-accepted",
        "cli.py",
        "if not 32 <= smin <= smax:",
        "if not smin <= smax:",
        "dropped check",
    ),
    Mutant(
        "conv-params-without-biases",
        "analysis/cost.py",
        "params = weights + c\n",
        "params = weights\n",
        "dropped term",
    ),
    Mutant(
        "aggregate-merges-bn-and-plain-runs",
        "results/io.py",
        'by = by or ["grid", "arch", "batch_norm", "init"]',
        'by = by or ["grid", "arch", "init"]',
        "wrong key",
    ),
)
"""A blind sixth round: 24 more bugs of the usual kinds, chosen from the source alone by a helper
that read no test, at most two in a module, weighted towards the modules the other sets touched
least (the file helpers, saved nets, reference figures, drawings, the distributed code), at
lines the other six sets do not touch; measured with ``--make-test``."""

ROUND7: tuple[Mutant, ...] = (
    Mutant(
        "paper-table2-c-quoted-as-133",
        "reference.py",
        '"paper_mparams": {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144},',
        '"paper_mparams": {"A": 133, "A-LRN": 133, "B": 133, "C": 133, "D": 138, "E": 144},',
        "wrong constant",
    ),
    Mutant(
        "project-root-skips-the-start-folder",
        "files.py",
        "    for folder in (start, *start.parents):",
        "    for folder in start.parents:",
        "off-by-one",
    ),
    Mutant(
        "executed-notebook-written-into-book",
        "chapters.py",
        '    path = out / f"{name}.ipynb"',
        '    path = book / f"{name}.ipynb"',
        "wrong folder",
    ),
    Mutant(
        "export-keeps-full-precision",
        "cli.py",
        "    save_model(model, dest, dtype=torch.float16)",
        "    save_model(model, dest)",
        "dropped argument",
    ),
    Mutant(
        "conv-padding-fixed-at-one",
        "arch/configs.py",
        'plan.append(LayerSpec("conv", s, c_in, c_out, k, 1, k // 2))',
        'plan.append(LayerSpec("conv", s, c_in, c_out, k, 1, 1))',
        "wrong constant",
    ),
    Mutant(
        "dropout-module-ignores-spec-rate",
        "arch/models.py",
        "            return nn.Dropout(dropout)",
        "            return nn.Dropout()",
        "wrong default",
    ),
    Mutant(
        "warm-start-copies-one-conv-too-few",
        "arch/initialisation.py",
        "for key, conv in list(src.items())[:n_conv]]",
        "for key, conv in list(src.items())[: n_conv - 1]]",
        "off-by-one",
    ),
    Mutant(
        "fc-bias-adds-ignore-batch",
        "analysis/cost.py",
        "                bias_adds = c * batch\n",
        "                bias_adds = c\n",
        "dropped factor",
    ),
    Mutant(
        "table1-rows-numbered-from-zero",
        "analysis/summary.py",
        'index.append((f"stage {s + 1}", str(i + 1)))',
        'index.append((f"stage {s + 1}", str(i)))',
        "off-by-one",
    ),
    Mutant(
        "train-step-never-zeroes-gradients",
        "engine/train.py",
        "    run.opt.zero_grad(set_to_none=True)\n",
        "",
        "missing step",
    ),
    Mutant(
        "folder-dense-view-takes-the-flip",
        "engine/evaluate.py",
        'views[f"dense@{q}"] = both[:, 0]',
        'views[f"dense@{q}"] = both[:, 1]',
        "wrong index",
    ),
    Mutant(
        "torchvision-images-transposed",
        "engine/data.py",
        'tensors[f"{split}_images"] = images.permute(0, 3, 1, 2).contiguous()',
        'tensors[f"{split}_images"] = images.permute(0, 3, 2, 1).contiguous()',
        "wrong axis",
    ),
    Mutant(
        "training-batches-never-shuffled",
        "engine/loader.py",
        "order = torch.randperm(n, device=self.device, generator=g)",
        "order = torch.arange(n, device=self.device)",
        "missing step",
    ),
    Mutant(
        "zero-stall-epochs-accepted",
        "engine/presets.py",
        "if self.stall_epochs is not None and self.stall_epochs < 1:",
        "if self.stall_epochs is not None and self.stall_epochs < 0:",
        "boundary",
    ),
    Mutant(
        "smoke-tier-gets-full-seed-list",
        "engine/grids.py",
        'seeds = seeds or (SMOKE_SEEDS if tier == "smoke" else SEEDS)',
        'seeds = seeds or (SMOKE_SEEDS if tier != "smoke" else SEEDS)',
        "inverted condition",
    ),
    Mutant(
        "retest-lists-every-protocol-as-added",
        "engine/retest.py",
        '"protocols": sorted(added),',
        '"protocols": sorted(test),',
        "wrong collection",
    ),
    Mutant(
        "imagenet-validation-in-training-mode",
        "engine/ddp.py",
        "    run.model.eval()\n    hits = torch.zeros(2, dtype=torch.float64, device=run.device)\n",
        "    hits = torch.zeros(2, dtype=torch.float64, device=run.device)\n",
        "missing step",
    ),
    Mutant(
        "diverged-epoch-on-completed-run-accepted",
        "results/schema.py",
        '    if (result["status"] == "diverged") != (result["diverged_epoch"] is not None):',
        '    if result["status"] == "diverged" and result["diverged_epoch"] is None:',
        "dropped check",
    ),
    Mutant(
        "results-json-allows-nan",
        "results/io.py",
        "json.dump(obj, f, indent=1, allow_nan=False)",
        "json.dump(obj, f, indent=1, allow_nan=True)",
        "dropped check",
    ),
    Mutant(
        "depth-change-sign-flipped",
        "report/depth.py",
        'change = float(per_arch.at[b, "mean"] - per_arch.at[a, "mean"])',
        'change = float(per_arch.at[a, "mean"] - per_arch.at[b, "mean"])',
        "swapped arguments",
    ),
    Mutant(
        "seconds-per-epoch-from-wall-time",
        "report/training.py",
        'table["s_per_epoch"] = table["train_time_s"] / table["epochs_run"].where(',
        'table["s_per_epoch"] = table["wall_time_s"] / table["epochs_run"].where(',
        "wrong key",
    ),
    Mutant(
        "protocol-table-gain-reversed",
        "report/ablations.py",
        'gain = done["centre/top1"].to_numpy(float) - top1',
        'gain = top1 - done["centre/top1"].to_numpy(float)',
        "swapped arguments",
    ),
    Mutant(
        "fc-share-claim-judged-on-parameters",
        "report/claims.py",
        'm = [s["fc_mac_share"] for s in totals.values()]',
        'm = [s["fc_param_share"] for s in totals.values()]',
        "wrong key",
    ),
    Mutant(
        "filter-energy-grey-over-filters",
        "report/features.py",
        "grey = spatial.mean(dim=1, keepdim=True)",
        "grey = spatial.mean(dim=0, keepdim=True)",
        "wrong axis",
    ),
)
"""A blind seventh round: 24 more bugs of the usual kinds, chosen from the source alone by a helper
that read no test, at most two in a module, spread evenly over the package (at least 16 files,
every subpackage and the top-level modules), at lines the other seven sets do not touch; its
places were kept from whoever wrote tests until it had been measured with ``--make-test``."""

ROUND8: tuple[Mutant, ...] = (
    Mutant(
        "atomic-write-leaves-its-temporary-file",
        "files.py",
        "    except BaseException:\n        Path(tmp).unlink(missing_ok=True)\n        raise",
        "    except BaseException:\n        raise",
        "missing step",
    ),
    Mutant(
        "chapter-names-read-from-the-default-book",
        "chapters.py",
        "    names = chapter_names(book)",
        "    names = chapter_names()",
        "dropped argument",
    ),
    Mutant(
        "torchvision-vgg19-params-mistyped",
        "reference.py",
        '"vgg19": 143_667_240,',
        '"vgg19": 143_667_420,',
        "wrong constant",
    ),
    Mutant(
        "conv1-layers-built-as-3x3",
        "arch/configs.py",
        "_C1 = {c: (1, c) for c in (256, 512)}",
        "_C1 = {c: (3, c) for c in (256, 512)}",
        "wrong constant",
    ),
    Mutant(
        "build-ignores-its-options",
        "arch/models.py",
        "spec = config if isinstance(config, VGGSpec) else VGGSpec(config, **options)",
        "spec = config if isinstance(config, VGGSpec) else VGGSpec(config)",
        "dropped argument",
    ),
    Mutant(
        "training-flops-forward-only",
        "analysis/cost.py",
        "FLOPS_PER_MAC = 3 * 2",
        "FLOPS_PER_MAC = 2",
        "dropped factor",
    ),
    Mutant(
        "stack-table-stops-at-three",
        "analysis/receptive.py",
        "def stack_table(ns: Iterable[int] = range(1, 5), channels: int = 512)",
        "def stack_table(ns: Iterable[int] = range(1, 4), channels: int = 512)",
        "off-by-one",
    ),
    Mutant(
        "epoch-loss-sums-batch-means",
        "engine/train.py",
        "        loss_sum += loss * len(y)",
        "        loss_sum += loss",
        "wrong reduction",
    ),
    Mutant(
        "crop-padding-only-left-and-right",
        "engine/loader.py",
        "x = random_crop(F.pad(x, (self.crop_padding,) * 4), h, w, g)",
        "x = random_crop(F.pad(x, (self.crop_padding,) * 2), h, w, g)",
        "wrong constant",
    ),
    Mutant(
        "n-val-not-a-multiple-of-the-classes-accepted",
        "engine/data.py",
        "    if n_val < 0 or n_val % k:",
        "    if n_val < 0:",
        "dropped check",
    ),
    Mutant(
        "jittered-smin-below-the-crop-accepted",
        "engine/presets.py",
        "        smallest = self.jitter[0] if self.jitter else self.scale",
        "        smallest = self.scale",
        "dropped check",
    ),
    Mutant(
        "grid-field-takes-the-run-name",
        "engine/grids.py",
        'grid=job.run_id.split("/")[0]',
        'grid=job.run_id.split("/")[-1]',
        "wrong index",
    ),
    Mutant(
        "retest-on-other-data-accepted",
        "engine/retest.py",
        '    if data.checksum != result["data"]["checksum"]:\n'
        '        raise ValueError(f"{result_path} was tested on other data '
        '({data.source} differs)")\n',
        "",
        "dropped check",
    ),
    Mutant(
        "colour-shift-in-the-wrong-units",
        "engine/ddp.py",
        "        x = x + 255 * shift.to(run.device)[:, :, None, None]",
        "        x = x + shift.to(run.device)[:, :, None, None]",
        "dropped factor",
    ),
    Mutant(
        "upper-case-image-suffixes-skipped",
        "engine/imagenet.py",
        "and e.name.lower().endswith(IMAGE_SUFFIXES)",
        "and e.name.endswith(IMAGE_SUFFIXES)",
        "missing step",
    ),
    Mutant(
        "main-process-per-node",
        "engine/distributed.py",
        "        return self.rank == 0",
        "        return self.local_rank == 0",
        "wrong field",
    ),
    Mutant(
        "gpu-tier-folder-named-after-its-preset",
        "results/schema.py",
        'TIERS: dict[str, str] = {"reduced": "runs", "cpu": "cpu", "smoke": "smoke"}',
        'TIERS: dict[str, str] = {"reduced": "reduced", "cpu": "cpu", "smoke": "smoke"}',
        "wrong folder",
    ),
    Mutant(
        "load-runs-not-recursive",
        "results/io.py",
        'sorted(folder.rglob("*.json"))',
        'sorted(folder.glob("*.json"))',
        "wrong folder",
    ),
    Mutant(
        "tier-folder-accepts-any-tier",
        "results/recorded.py",
        'for p, r in runs.items() if r["preset"] != tier]',
        'for p, r in runs.items() if r["preset"] not in TIERS]',
        "wrong condition",
    ),
    Mutant(
        "depth-means-include-stalled-runs",
        "report/depth.py",
        '        done = group[group["status"] == "completed"]',
        '        done = group[group["status"] != "diverged"]',
        "wrong condition",
    ),
    Mutant(
        "verdict-side-inverted",
        "report/significance.py",
        'side = "lower" if self.diff < 0 else "higher"',
        'side = "lower" if self.diff > 0 else "higher"',
        "inverted comparison",
    ),
    Mutant(
        "table2-params-truncated-not-rounded",
        "report/claims.py",
        "match = all(round(ours[c]) == paper[c] for c in TABLE1)",
        "match = all(int(ours[c]) == paper[c] for c in TABLE1)",
        "wrong rounding",
    ),
    Mutant(
        "class-means-normalised-over-images",
        "report/features.py",
        "fit = torch.nn.functional.normalize(fit_x.double(), dim=1)",
        "fit = torch.nn.functional.normalize(fit_x.double(), dim=0)",
        "wrong axis",
    ),
    Mutant(
        "run-ignores-the-smoke-flag",
        "cli.py",
        '    tier = "smoke" if args.smoke else args.preset',
        "    tier = args.preset",
        "dropped check",
    ),
)
"""A blind eighth round: 24 more bugs of the usual kinds, chosen from the source alone by a helper
that read no test, at most two in a module, spread evenly over the package, at lines the other
eight sets do not touch; its places were kept from whoever wrote tests until it had been
measured with ``--make-test --book``."""

ROUND9: tuple[Mutant, ...] = (
    Mutant(
        "cache-folder-reads-the-wrong-variable",
        "files.py",
        'os.environ.get("VGGREPRO_CACHE")',
        'os.environ.get("VGGREPRO_CACHE_DIR")',
        "wrong key",
    ),
    Mutant(
        "chapter-runs-in-the-default-book-folder",
        "chapters.py",
        'resources={"metadata": {"path": book}}',
        'resources={"metadata": {"path": BOOK}}',
        "wrong variable",
    ),
    Mutant(
        "torchvision-vgg13-gmacs-mistyped",
        "reference.py",
        '"vgg13": 11.308,',
        '"vgg13": 11.038,',
        "wrong constant",
    ),
    Mutant(
        "export-accepts-a-results-file-without-a-digest",
        "cli.py",
        "        if not recorded:  # older results files, and diverged runs, name no weights\n"
        "            raise ValueError(\n"
        '                f"{result_path} records no model_sha256, so it cannot be matched to "\n'
        '                f"{model_path} (another seed trains the same net): train the run again"\n'
        "            )\n",
        "",
        "dropped check",
    ),
    Mutant(
        "paper-init-std-read-as-variance",
        "arch/initialisation.py",
        '"paper": _normal(1e-2),',
        '"paper": _normal(1e-1),',
        "wrong constant",
    ),
    Mutant(
        "lrn-k-takes-pytorchs-default",
        "arch/configs.py",
        '"beta": 0.75, "k": 2.0}',
        '"beta": 0.75, "k": 1.0}',
        "wrong constant",
    ),
    Mutant(
        "conv-macs-for-one-image",
        "analysis/cost.py",
        "macs = weights * h * w * batch",
        "macs = weights * h * w",
        "dropped factor",
    ),
    Mutant(
        "stack-weight-ratio-inverted",
        "analysis/receptive.py",
        '"weight_ratio": weights_stack / weights_single,',
        '"weight_ratio": weights_single / weights_stack,',
        "swapped operands",
    ),
    Mutant(
        "torchinfo-rows-stop-one-level-short",
        "analysis/summary.py",
        "if 1 <= info.depth <= (2 if by_stage else depth)",
        "if 1 <= info.depth < (2 if by_stage else depth)",
        "boundary",
    ),
    Mutant(
        "wall-times-sum-images-per-second",
        "results/recorded.py",
        'images_per_s=("images_per_s", "mean"),',
        'images_per_s=("images_per_s", "sum"),',
        "wrong reduction",
    ),
    Mutant(
        "csv-writes-negative-zero",
        "results/io.py",
        "frame[column] = frame[column].round(4) + 0.0",
        "frame[column] = frame[column].round(4)",
        "dropped term",
    ),
    Mutant(
        "error-percent-unbounded-above",
        "results/schema.py",
        '_PERCENT = {"type": "number", "minimum": 0, "maximum": 100}',
        '_PERCENT = {"type": "number", "minimum": 0}',
        "schema loosened",
    ),
    Mutant(
        "named-index-dropped-from-tables",
        "report/tables.py",
        "out = out.reset_index()",
        "out = out.reset_index(drop=True)",
        "dropped column",
    ),
    Mutant(
        "init-table-stuck-leaves-out-stalled-runs",
        "report/ablations.py",
        '((g["outcome"] == "stuck near chance") | (g["status"] == "stalled")).sum()',
        '(g["outcome"] == "stuck near chance").sum()',
        "dropped term",
    ),
    Mutant(
        "z-critical-one-sided",
        "report/significance.py",
        "distributions.norm.ppf(0.5 + level / 2)",
        "distributions.norm.ppf(level)",
        "one-sided instead of two-sided",
    ),
    Mutant(
        "depth-se-ignores-the-deeper-arm",
        "report/depth.py",
        "se = pooled * math.sqrt(1 / n_a + 1 / n_b) if n_a and n_b else math.nan",
        "se = pooled * math.sqrt(1 / n_a) if n_a and n_b else math.nan",
        "dropped term",
    ),
    Mutant(
        "probe-gap-adds-standard-errors",
        "report/features.py",
        "return t_statistic(a - b, math.sqrt(se_a**2 + se_b**2))",
        "return t_statistic(a - b, se_a + se_b)",
        "statistics error",
    ),
    Mutant(
        "recipe-drops-read-from-max-drops",
        "report/training.py",
        '"max_drops": cfg.planned_drops(),',
        '"max_drops": cfg.max_drops,',
        "wrong field",
    ),
    Mutant(
        "resume-leaves-the-cpu-generator",
        "engine/checkpoint.py",
        '    torch.set_rng_state(state["cpu"])\n',
        "",
        "dropped state in resume",
    ),
    Mutant(
        "checkpoint-epoch-one-behind",
        "engine/train.py",
        'done["epoch"] = epoch + 1',
        'done["epoch"] = epoch',
        "off-by-one",
    ),
    Mutant(
        "jittered-single-scale-precedence",
        "engine/presets.py",
        "return (self.jitter[0] + self.jitter[1]) // 2 if self.jitter else self.scale",
        "return self.jitter[0] + self.jitter[1] // 2 if self.jitter else self.scale",
        "operator precedence",
    ),
    Mutant(
        "imagenet-jitter-never-draws-smax",
        "engine/imagenet.py",
        "torch.randint(cfg.jitter[0], cfg.jitter[1] + 1, (), generator=g)",
        "torch.randint(cfg.jitter[0], cfg.jitter[1], (), generator=g)",
        "off-by-one",
    ),
    Mutant(
        "grid-config-compared-with-tuples",
        "engine/grids.py",
        "return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}",
        "return dict(config)",
        "dropped conversion",
    ),
    Mutant(
        "unknown-dirty-state-recorded-as-clean",
        "engine/provenance.py",
        '"git_dirty": dirty,',
        '"git_dirty": bool(dirty),',
        "provenance field wrong",
    ),
)
"""A blind ninth round: 24 more bugs of the usual kinds, chosen from the source alone by a helper
that read no test, at most two in a module, spread evenly over the package, at lines the other
nine sets do not touch; its places were kept from whoever wrote tests until it had been
measured with ``--make-test --book``."""

ROUND10: tuple[Mutant, ...] = (
    Mutant(
        "atomic-write-makes-only-the-last-folder",
        "files.py",
        "path.parent.mkdir(parents=True, exist_ok=True)",
        "path.parent.mkdir(exist_ok=True)",
        "dropped argument",
    ),
    Mutant(
        "executed-chapters-go-to-the-wrong-folder",
        "chapters.py",
        'NOTEBOOKS = ROOT / "_build" / "notebooks"',
        'NOTEBOOKS = ROOT / "build" / "notebooks"',
        "wrong constant",
    ),
    Mutant(
        "h100-sxm-peak-counts-sparsity",
        "reference.py",
        '("H100 SXM", 1979 / 2),',
        '("H100 SXM", 1979),',
        "dropped factor",
    ),
    Mutant(
        "seed-zero-refused-on-the-command-line",
        "cli.py",
        "if not 0 <= value < 2**63:",
        "if not 0 < value < 2**63:",
        "boundary",
    ),
    Mutant(
        "width-check-reads-the-widest-layer",
        "arch/configs.py",
        "smallest = min(layer[1] for stage in self.stages",
        "smallest = max(layer[1] for stage in self.stages",
        "wrong reduction",
    ),
    Mutant(
        "classifier-dropout-ignores-the-spec",
        "arch/models.py",
        "_module(ly, spec.dropout) for ly in spec.classifier()",
        "_module(ly, 0.5) for ly in spec.classifier()",
        "wrong variable",
    ),
    Mutant(
        "batch-norm-scale-starts-at-zero",
        "arch/initialisation.py",
        "nn.init.ones_(m.weight)",
        "nn.init.zeros_(m.weight)",
        "wrong constant",
    ),
    Mutant(
        "batch-norm-params-count-one-per-channel",
        "analysis/cost.py",
        "params = 2 * c",
        "params = c",
        "dropped factor",
    ),
    Mutant(
        "layer-stack-draws-a-divider-before-stage-one",
        "analysis/figures.py",
        "if s > 1:",
        "if s >= 1:",
        "boundary",
    ),
    Mutant(
        "single-filter-macs-read-the-stack",
        "analysis/receptive.py",
        '"macs_per_position_single": weights_single,',
        '"macs_per_position_single": weights_stack,',
        "wrong variable",
    ),
    Mutant(
        "garbage-checkpoint-escapes-as-unpickling-error",
        "engine/checkpoint.py",
        "except Exception as e:  # truncated or not a checkpoint, whatever the error",
        "except (EOFError, RuntimeError) as e:  # truncated or not a checkpoint, whatever the error",  # noqa: E501
        "missing validation",
    ),
    Mutant(
        "world-of-one-counts-as-distributed",
        "engine/distributed.py",
        "return self.size > 1",
        "return self.size >= 1",
        "boundary",
    ),
    Mutant(
        "no-git-recorded-as-clean",
        "engine/provenance.py",
        'return "unknown", None',
        'return "unknown", False',
        "provenance field wrong",
    ),
    Mutant(
        "shared-run-names-itself-as-the-original",
        "engine/grids.py",
        '"shared_with": twin["run_id"]}',
        '"shared_with": job.run_id}',
        "provenance field wrong",
    ),
    Mutant(
        "imagenet-crop-left-offset-from-the-height",
        "engine/imagenet.py",
        "left = int(torch.randint(0, w - cfg.crop + 1, (), generator=g))",
        "left = int(torch.randint(0, h - cfg.crop + 1, (), generator=g))",
        "wrong axis",
    ),
    Mutant(
        "imagenet-checkpoint-forgets-the-schedule",
        "engine/ddp.py",
        'return {"model": self.model, "optimizer": self.opt, "scheduler": self.scheduler}',
        'return {"model": self.model, "optimizer": self.opt}',
        "dropped state in save/resume",
    ),
    Mutant(
        "epochs-run-one-short",
        "results/io.py",
        '"epochs_run": len(r["history"]),',
        '"epochs_run": len(r["history"]) - 1,',
        "off-by-one",
    ),
    Mutant(
        "results-file-keeps-a-null-probe",
        "results/schema.py",
        'for name in ("retest", "probe"):',
        'for name in ("retest",):',
        "dropped key",
    ),
    Mutant(
        "test-scales-ignore-the-retest",
        "results/recorded.py",
        'scales |= set(r["config"]["eval_scales"]) | set(r.get("retest", {}).get("scales", ()))',
        'scales |= set(r["config"]["eval_scales"])',
        "dropped term",
    ),
    Mutant(
        "pairwise-difference-a-minus-b",
        "report/significance.py",
        "diff=float(vb.mean() - va.mean()) if na and nb else math.nan",
        "diff=float(va.mean() - vb.mean()) if na and nb else math.nan",
        "swapped arguments",
    ),
    Mutant(
        "recipe-differences-count-the-seed",
        "report/ablations.py",
        'ignore: tuple[str, ...] = ("arch", "seed")',
        'ignore: tuple[str, ...] = ("arch",)',
        "wrong default",
    ),
    Mutant(
        "filter-display-scales-per-filter-inverted",
        "report/features.py",
        "dims = (1, 2, 3) if per_filter else (0, 1, 2, 3)",
        "dims = (0, 1, 2, 3) if per_filter else (1, 2, 3)",
        "inverted condition",
    ),
    Mutant(
        "mean-curves-take-the-median",
        "report/training.py",
        'out = grouped[["train_loss", "train_acc", "val_acc", "lr"]].mean()',
        'out = grouped[["train_loss", "train_acc", "val_acc", "lr"]].median()',
        "wrong reduction",
    ),
    Mutant(
        "stall-claim-partly-when-the-paper-init-stalls",
        "report/claims.py",
        "if warm_trains",
        "if paper_stalls",
        "wrong variable",
    ),
)
"""A blind tenth round: 24 more bugs of the usual kinds, chosen from the source alone by a helper
that read no test, at most two in a module, spread evenly over the package, at lines the other
ten sets do not touch; its places were kept from whoever wrote tests until it had been
measured with ``--make-test --book``."""

ROUND11: tuple[Mutant, ...] = (
    Mutant(
        "atomic-write-temp-file-not-hidden",
        "files.py",
        'prefix=f".{path.name}.", suffix=".tmp")',
        'prefix=f"{path.name}.", suffix=".tmp")',
        "wrong constant",
    ),
    Mutant(
        "chapter-source-read-from-default-book",
        "chapters.py",
        'source = book / f"{name}.md"',
        'source = BOOK / f"{name}.md"',
        "wrong variable",
    ),
    Mutant(
        "torchvision-vgg16-bn-params-copied-from-plain",
        "reference.py",
        '"vgg16_bn": 138_365_992,',
        '"vgg16_bn": 138_357_544,',
        "wrong constant",
    ),
    Mutant(
        "layer-stack-batch-norm-boxes-drawn-wide",
        "analysis/figures.py",
        'thin = kind in ("maxpool", "lrn", "bn")',
        'thin = kind in ("maxpool", "lrn")',
        "dropped value",
    ),
    Mutant(
        "dense-head-keeps-random-conv-biases",
        "arch/models.py",
        "                conv.bias.copy_(fc.bias)\n",
        "",
        "dropped statement",
    ),
    Mutant(
        "grid-checkpoints-not-kept-per-tier",
        "cli.py",
        "checkpoints = args.checkpoints / TIERS[tier]",
        "checkpoints = args.checkpoints",
        "wrong folder",
    ),
    Mutant(
        "unlabelled-table-rows-dropped-silently",
        "report/tables.py",
        "return pd.api.types.is_integer_dtype(index) and not isinstance(index, pd.MultiIndex)",
        "return pd.api.types.is_integer_dtype(index) or not isinstance(index, pd.MultiIndex)",
        "wrong operator",
    ),
    Mutant(
        "evaluation-claim-counts-inconclusive-as-support",
        "report/claims.py",
        "verdict = _grade(v.status == Status.SUPPORTED for v in table[column])",
        "verdict = _grade(v.status != Status.CONTRADICTED for v in table[column])",
        "wrong comparison",
    ),
    Mutant(
        "depth-last-step-direction-inverted",
        "report/depth.py",
        'direction = "still falls" if last < 0 else "rises again"',
        'direction = "still falls" if last > 0 else "rises again"',
        "inverted comparison",
    ),
    Mutant(
        "weight-change-relative-to-trained-weights",
        "report/features.py",
        "sums[1] += float(w0.square().sum())",
        "sums[1] += float(w.square().sum())",
        "wrong variable",
    ),
    Mutant(
        "confidence-interval-uses-seed-noise-not-error",
        "report/significance.py",
        "half = self.t_crit * self.se",
        "half = self.t_crit * self.noise",
        "wrong variable",
    ),
    Mutant(
        "training-verdict-accuracy-range-includes-failed-runs",
        "report/training.py",
        'lo, hi = done["best_val_acc"].min(), done["best_val_acc"].max()',
        'lo, hi = table["best_val_acc"].min(), table["best_val_acc"].max()',
        "wrong variable",
    ),
    Mutant(
        "init-verdict-names-the-fixes-that-failed",
        "report/ablations.py",
        'for r in ("vgg19_glorot", "vgg19_warm") if states[r] == "trains"]',
        'for r in ("vgg19_glorot", "vgg19_warm") if states[r] != "trains"]',
        "inverted comparison",
    ),
    Mutant(
        "results-time-without-timezone-accepted",
        "results/schema.py",
        r'(Z|[+-]\d{2}:\d{2})$"',
        r'(Z|[+-]\d{2}:\d{2})?$"',
        "dropped check",
    ),
    Mutant(
        "runs-frame-init-loses-warm-start-label",
        "results/io.py",
        '"init": init_label(c),',
        '"init": c["init"],',
        "wrong variable",
    ),
    Mutant(
        "wall-times-count-shared-runs-as-trained",
        "results/recorded.py",
        'trained = frame[~frame["shared"]].groupby(',
        "trained = frame.groupby(",
        "dropped filter",
    ),
    Mutant(
        "run-tested-on-the-validation-split",
        "engine/train.py",
        "test=DeviceLoader(*split.test, cfg.eval_batch_size",
        "test=DeviceLoader(*split.val, cfg.eval_batch_size",
        "wrong variable",
    ),
    Mutant(
        "nested-image-paths-accepted-as-class-images",
        "engine/data.py",
        "if len(parts) != 3 or parts[0] not in SPLITS:",
        "if len(parts) < 3 or parts[0] not in SPLITS:",
        "boundary",
    ),
    Mutant(
        "random-crop-never-reaches-the-right-edge",
        "engine/loader.py",
        "left = torch.randint(0, w - width + 1,",
        "left = torch.randint(0, w - width,",
        "off-by-one",
    ),
    Mutant(
        "dense-multi-scale-ignores-flips",
        "engine/evaluate.py",
        "dense_all.append((p + pf) / 2)",
        "dense_all.append(p)",
        "wrong variable",
    ),
    Mutant(
        "resume-skips-the-last-stateful-part",
        "engine/checkpoint.py",
        "for name, part in parts.items():",
        "for name, part in list(parts.items())[:-1]:",
        "off-by-one",
    ),
    Mutant(
        "shared-run-copied-from-another-copy",
        "engine/grids.py",
        'if twin is not None and "shared_with" not in twin:',
        "if twin is not None:",
        "dropped check",
    ),
    Mutant(
        "milestone-at-the-end-of-the-budget-accepted",
        "engine/presets.py",
        "0 < m < 1 for m in self.milestones",
        "0 < m <= 1 for m in self.milestones",
        "boundary",
    ),
    Mutant(
        "imagenet-centre-view-rescaled-to-the-crop",
        "engine/imagenet.py",
        "centre = TF.center_crop(rescale(image, self.centre), [self.crop, self.crop])",
        "centre = TF.center_crop(rescale(image, self.crop), [self.crop, self.crop])",
        "wrong variable",
    ),
)

ROUND12: tuple[Mutant, ...] = (
    Mutant(
        "activation-total-leaves-out-pool-outputs",
        "analysis/cost.py",
        'STORED_KINDS = frozenset({"conv", "bn", "lrn", "maxpool", "fc"})',
        'STORED_KINDS = frozenset({"conv", "bn", "lrn", "fc"})',
        "dropped case",
    ),
    Mutant(
        "layer-walk-keeps-dropout-layers",
        "analysis/summary.py",
        'if layer.kind not in ("relu", "dropout"):',
        'if layer.kind != "relu":',
        "dropped case",
    ),
    Mutant(
        "zero-fc-width-accepted",
        "arch/configs.py",
        "if self.fc_width < 1:",
        "if self.fc_width < 0:",
        "boundary",
    ),
    Mutant(
        "one-validation-image-per-class-refused",
        "engine/train.py",
        "if cfg.n_val < len(data.classes):",
        "if cfg.n_val <= len(data.classes):",
        "boundary",
    ),
    Mutant(
        "hidden-files-read-from-data-folder",
        "engine/data.py",
        "if path.is_file() and not _hidden(rel.parts):",
        "if path.is_file():",
        "dropped check",
    ),
    Mutant(
        "folder-flip-view-never-flips",
        "engine/evaluate.py",
        "model(hflip(centre)).float().softmax(1)",
        "model(centre).float().softmax(1)",
        "wrong variable",
    ),
    Mutant(
        "checkpoint-saved-without-rng-state",
        "engine/checkpoint.py",
        'torch.save({**state, "rng": _rng_state(device)}, f)',
        "torch.save(state, f)",
        "dropped field",
    ),
    Mutant(
        "warm-source-kept-when-dependents-missing",
        "engine/grids.py",
        'missing = [d for d in needed if not (out / name / f"{d}-s{seed}.json").exists()]',
        'missing = [d for d in needed if (out / name / f"{d}-s{seed}.json").exists()]',
        "inverted condition",
    ),
    Mutant(
        "retest-records-old-centre-error-as-again",
        "engine/retest.py",
        '"centre_top1_error_again": again,',
        '"centre_top1_error_again": recorded,',
        "wrong variable",
    ),
    Mutant(
        "imagenet-dense-scales-too-close",
        "engine/presets.py",
        "return (self.scale - 32, self.scale, self.scale + 32)",
        "return (self.scale - 16, self.scale, self.scale + 16)",
        "wrong constant",
    ),
    Mutant(
        "imagenet-diverged-epoch-off-by-one",
        "engine/ddp.py",
        'status, diverged_epoch = "diverged", epoch + 1',
        'status, diverged_epoch = "diverged", epoch',
        "off-by-one",
    ),
    Mutant(
        "sha256-pattern-unanchored",
        "results/schema.py",
        '_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}',
        '_SHA256 = {"type": "string", "pattern": "[0-9a-f]{64}"}',
        "dropped check",
    ),
    Mutant(
        "non-utf8-results-file-not-a-result-error",
        "results/io.py",
        "except (json.JSONDecodeError, UnicodeDecodeError) as e:",
        "except json.JSONDecodeError as e:",
        "dropped exception handling",
    ),
    Mutant(
        "complete-tiers-accepts-partly-recorded-tier",
        "results/recorded.py",
        "if all(runs.values()):",
        "if any(runs.values()):",
        "wrong reduction",
    ),
    Mutant(
        "depth-claim-ignores-significance",
        "report/claims.py",
        'bn in effect.index and bool(effect.at[bn, "clear"] and effect.at[bn, "change"] < 0)',
        'bn in effect.index and bool(effect.at[bn, "change"] < 0)',
        "dropped check",
    ),
    Mutant(
        "depth-saturation-reads-first-step",
        "report/depth.py",
        "last_change, last_t = steps[-1][2:] if steps else (math.nan, math.nan)",
        "last_change, last_t = steps[0][2:] if steps else (math.nan, math.nan)",
        "wrong index",
    ),
    Mutant(
        "undertrained-net-gets-no-warning",
        "report/features.py",
        "if not ck.undertrained:",
        "if not ck.smoke:",
        "wrong condition",
    ),
    Mutant(
        "relative-interval-scaled-by-arm-b",
        "report/significance.py",
        "lo, hi, value = (100 * v / c.mean_a for v in (lo, hi, c.diff))",
        "lo, hi, value = (100 * v / c.mean_b for v in (lo, hi, c.diff))",
        "wrong variable",
    ),
    Mutant(
        "training-verdict-counts-stalled-as-completed",
        "report/training.py",
        'done = table[table["status"] == "completed"]',
        'done = table[table["status"] != "diverged"]',
        "wrong condition",
    ),
    Mutant(
        "init-table-counts-stalled-as-diverged",
        "report/ablations.py",
        '"diverged": int((g["status"] == "diverged").sum()),',
        '"diverged": int((g["status"] != "completed").sum()),',
        "wrong condition",
    ),
    Mutant(
        "results-check-misses-grid-subfolders",
        "cli.py",
        'for path in sorted(out.glob("*/*.json")):',
        'for path in sorted(out.glob("*.json")):',
        "wrong folder",
    ),
    Mutant(
        "chapter-output-parents-not-created",
        "chapters.py",
        "out.mkdir(parents=True, exist_ok=True)",
        "out.mkdir(exist_ok=True)",
        "dropped argument",
    ),
    Mutant(
        "project-root-falls-back-to-cwd",
        "files.py",
        "    return start\n",
        "    return Path.cwd()\n",
        "wrong folder",
    ),
    Mutant(
        "vgg11-bn-published-params-typo",
        "reference.py",
        '"vgg11_bn": 132_868_840,',
        '"vgg11_bn": 132_868_480,',
        "wrong constant",
    ),
)

ROUND13: tuple[Mutant, ...] = (
    Mutant(
        "retest-looks-for-nets-outside-the-tier-folder",
        "cli.py",
        "models = args.checkpoints / TIERS[args.preset]",
        "models = args.checkpoints",
        "wrong folder",
    ),
    Mutant(
        "default-book-folder-is-docs",
        "chapters.py",
        'BOOK = ROOT / "book"',
        'BOOK = ROOT / "docs"',
        "wrong folder",
    ),
    Mutant(
        "atomic-write-ignores-text-mode",
        "files.py",
        "with os.fdopen(fd, mode) as f:",
        'with os.fdopen(fd, "wb") as f:',
        "dropped argument",
    ),
    Mutant(
        "tar-gz-source-named-by-stem",
        "engine/data.py",
        "name, checksum = path.name.removesuffix(_suffix(path.name)), _sha256(path)",
        "name, checksum = path.stem, _sha256(path)",
        "wrong variable",
    ),
    Mutant(
        "jitter-smin-equal-to-image-side-refused",
        "engine/loader.py",
        "not min(images.shape[-2:]) <= jitter[0] <= jitter[1]",
        "not min(images.shape[-2:]) < jitter[0] <= jitter[1]",
        "boundary",
    ),
    Mutant(
        "validation-split-follows-the-run-seed",
        "engine/train.py",
        "split_validation(data, cfg.n_val, seed=0)",
        "split_validation(data, cfg.n_val, seed=cfg.seed)",
        "wrong argument",
    ),
    Mutant(
        "grid-results-ordered-by-run-then-seed",
        "engine/grids.py",
        'ordered = [f"{name}/{r}-s{s}" for s in seeds for r in names]',
        'ordered = [f"{name}/{r}-s{s}" for r in names for s in seeds]',
        "swapped arguments",
    ),
    Mutant(
        "missing-checkpoint-reported-unreadable",
        "engine/checkpoint.py",
        "    if not path.exists():\n        return None\n    try:",
        "    try:",
        "dropped check",
    ),
    Mutant(
        "imagenet-history-epochs-count-from-zero",
        "engine/ddp.py",
        'line = {"epoch": epoch + 1, "train_loss": loss,',
        'line = {"epoch": epoch, "train_loss": loss,',
        "off-by-one",
    ),
    Mutant(
        "cpu-only-machine-looks-for-cuda-devices",
        "engine/distributed.py",
        'if name == "cpu" or not torch.cuda.is_available():',
        'if name == "cpu" and not torch.cuda.is_available():',
        "wrong condition",
    ),
    Mutant(
        "imagenet-crop-never-at-the-last-row",
        "engine/imagenet.py",
        "top = int(torch.randint(0, h - cfg.crop + 1, (), generator=g))",
        "top = int(torch.randint(0, h - cfg.crop, (), generator=g))",
        "off-by-one",
    ),
    Mutant(
        "folder-flip-view-drops-the-original",
        "engine/evaluate.py",
        'views = {"centre": p, "flip": (p + pf) / 2}',
        'views = {"centre": p, "flip": pf}',
        "wrong reduction",
    ),
    Mutant(
        "n-train-of-one-batch-refused",
        "engine/presets.py",
        "self.n_train is not None and self.n_train < self.batch_size",
        "self.n_train is not None and self.n_train <= self.batch_size",
        "boundary",
    ),
    Mutant(
        "clean-checkout-recorded-dirty",
        "engine/provenance.py",
        "return commit, bool(dirty)",
        "return commit, dirty is not None",
        "wrong condition",
    ),
    Mutant(
        "retest-grid-misses-a-net-in-an-existing-folder",
        "engine/retest.py",
        "(todo if model.exists() else missing)",
        "(todo if model.parent.exists() else missing)",
        "wrong condition",
    ),
    Mutant(
        "load-model-keeps-the-derived-stages-field",
        "engine/nets.py",
        'if k != "stages"',
        'if k != "stage"',
        "wrong constant",
    ),
    Mutant(
        "config-b-has-three-convs-in-stage-3",
        "arch/configs.py",
        '"B": [[_C3[64]] * 2, [_C3[128]] * 2, [_C3[256]] * 2,',
        '"B": [[_C3[64]] * 2, [_C3[128]] * 2, [_C3[256]] * 3,',
        "wrong constant",
    ),
    Mutant(
        "activation-bytes-for-one-image",
        "analysis/cost.py",
        '"act_bytes": activations * batch * bytes_per_value,',
        '"act_bytes": activations * bytes_per_value,',
        "dropped factor",
    ),
    Mutant(
        "clearly-lower-never-contradicts-higher",
        "report/significance.py",
        "elif went_lower or went_higher:",
        "elif went_higher:",
        "wrong condition",
    ),
    Mutant(
        "every-run-labelled-warm-started",
        "results/io.py",
        '("+warm" if config.get("warm_start") else "")',
        '("+warm" if "warm_start" in config else "")',
        "wrong condition",
    ),
    Mutant(
        "depth-clear-only-when-error-rises",
        "report/depth.py",
        '"clear": bool(abs(t) > crit),',
        '"clear": bool(t > crit),',
        "wrong condition",
    ),
    Mutant(
        "probe-compares-with-random-first-stage",
        "report/features.py",
        't["ncm random"].iloc[-1]',
        't["ncm random"].iloc[0]',
        "off-by-one",
    ),
    Mutant(
        "table1-cell-swaps-kernel-and-channels",
        "analysis/summary.py",
        'f"conv{layer[0]}-{layer[1]}"',
        'f"conv{layer[1]}-{layer[0]}"',
        "swapped arguments",
    ),
    Mutant(
        "wall-times-shared-count-left-missing",
        "results/recorded.py",
        "shared.reindex(table.index, fill_value=0)",
        "shared.reindex(table.index)",
        "dropped argument",
    ),
)

ROUND14: tuple[Mutant, ...] = (
    Mutant(
        "imagenet-results-default-to-single-folder",
        "cli.py",
        'out = args.out if "out" in args.given else Path("results/imagenet")',
        "out = args.out",
        "wrong folder",
    ),
    Mutant(
        "chapter-cell-timeout-halved",
        "chapters.py",
        "TIMEOUT = 1200",
        "TIMEOUT = 600",
        "wrong constant",
    ),
    Mutant(
        "project-root-start-not-resolved",
        "files.py",
        "start = (start or Path.cwd()).resolve()",
        "start = start or Path.cwd()",
        "dropped call",
    ),
    Mutant(
        "stale-cache-tmp-age-test-inverted",
        "engine/data.py",
        "if time.time() - tmp.stat().st_mtime < STALE_TMP_SECONDS:",
        "if time.time() - tmp.stat().st_mtime > STALE_TMP_SECONDS:",
        "wrong condition",
    ),
    Mutant(
        "loader-accepts-zero-batch-size",
        "engine/loader.py",
        "if batch_size < 1 or crop_padding < 0:",
        "if batch_size < 0 or crop_padding < 0:",
        "boundary",
    ),
    Mutant(
        "cpu-bf16-needs-cuda-too",
        "engine/train.py",
        'bf16=device.type == "cuda" or cfg.cpu_bf16',
        'bf16=device.type == "cuda" and cfg.cpu_bf16',
        "wrong condition",
    ),
    Mutant(
        "twin-search-looks-only-at-top-folder",
        "engine/grids.py",
        'for path in sorted(out.glob("*/*.json")):',
        'for path in sorted(out.glob("*.json")):',
        "wrong folder",
    ),
    Mutant(
        "checkpoint-written-non-atomically",
        "engine/checkpoint.py",
        "with atomic_write(path) as f:",
        'with open(path, "wb") as f:',
        "dropped call",
    ),
    Mutant(
        "imagenet-saves-diverged-net",
        "engine/ddp.py",
        'if model_path is not None and status != "diverged":',
        "if model_path is not None:",
        "dropped check",
    ),
    Mutant(
        "backend-chosen-by-cuda-availability-not-device",
        "engine/distributed.py",
        'return "nccl" if device.type == "cuda" else "gloo"',
        'return "nccl" if torch.cuda.is_available() else "gloo"',
        "wrong condition",
    ),
    Mutant(
        "eval-sampler-ignores-world-size-stride",
        "engine/imagenet.py",
        "sampler=range(world.rank, len(images), world.size),",
        "sampler=range(world.rank, len(images)),",
        "dropped argument",
    ),
    Mutant(
        "folder-multiscale-averages-unflipped-views",
        "engine/evaluate.py",
        "dense_all.append(both.mean(1))",
        "dense_all.append(both[:, 0])",
        "wrong variable",
    ),
    Mutant(
        "imagenet-crop-check-ignores-jitter-smin",
        "engine/presets.py",
        "if smallest < self.crop:",
        "if self.scale < self.crop:",
        "wrong variable",
    ),
    Mutant(
        "git-commit-oserror-not-caught",
        "engine/provenance.py",
        "except (OSError, subprocess.CalledProcessError):",
        "except subprocess.CalledProcessError:",
        "exception not caught",
    ),
    Mutant(
        "retest-records-default-scales",
        "engine/retest.py",
        '"scales": list(scales),',
        '"scales": list(SCALES),',
        "wrong variable",
    ),
    Mutant(
        "load-model-missing-file-becomes-valueerror",
        "engine/nets.py",
        "    except OSError:\n        raise\n    except Exception as e:",
        "    except Exception as e:",
        "exception not caught",
    ),
    Mutant(
        "initialise-keeps-default-biases",
        "arch/initialisation.py",
        "sample(m.weight)\n            nn.init.zeros_(m.bias)",
        "sample(m.weight)",
        "dropped call",
    ),
    Mutant(
        "fc-params-omit-bias",
        "analysis/cost.py",
        "params = ly.in_channels * c + c",
        "params = ly.in_channels * c",
        "wrong constant",
    ),
    Mutant(
        "pooled-std-counts-single-run-groups",
        "report/significance.py",
        "if n >= 2:",
        "if n >= 1:",
        "boundary",
    ),
    Mutant(
        "fc-share-band-tested-on-param-share",
        "report/claims.py",
        "near = [FC_BAND[0] <= share <= FC_BAND[1] for share in m]",
        "near = [FC_BAND[0] <= share <= FC_BAND[1] for share in p]",
        "wrong variable",
    ),
    Mutant(
        "schema-train-acc-allows-percent",
        "results/schema.py",
        '"train_acc": _SHARE,',
        '"train_acc": _PERCENT,',
        "missing validation",
    ),
    Mutant(
        "weight-change-missing-sqrt",
        "report/features.py",
        "return {s: math.sqrt(d / n) for s, (d, n) in change.items()}",
        "return {s: d / n for s, (d, n) in change.items()}",
        "wrong reduction",
    ),
    Mutant(
        "complete-tiers-includes-smoke",
        "results/recorded.py",
        '        if tier == "smoke":\n            continue\n',
        "",
        "dropped check",
    ),
    Mutant(
        "fit-note-reading-inverted",
        "report/training.py",
        "if gap < 0",
        "if gap > 0",
        "wrong condition",
    ),
)

ROUND15: tuple[Mutant, ...] = (
    Mutant(
        "imagenet-config-ignores-epochs",
        "cli.py",
        'names = (set(TRAIN_OPTIONS) | set(IMAGENET_OPTIONS) | {"epochs"}) & args.given',
        "names = (set(TRAIN_OPTIONS) | set(IMAGENET_OPTIONS)) & args.given",
        "dropped argument",
    ),
    Mutant(
        "chapter-names-default-looks-in-notebooks-folder",
        "chapters.py",
        '(default: ``BOOK``)."""\n    book = book or BOOK',
        '(default: ``BOOK``)."""\n    book = book or NOTEBOOKS',
        "wrong folder",
    ),
    Mutant(
        "atomic-write-defaults-to-text-mode",
        "files.py",
        'def atomic_write(path: Path | str, mode: str = "wb")',
        'def atomic_write(path: Path | str, mode: str = "w")',
        "wrong default",
    ),
    Mutant(
        "test-class-names-only-counted",
        "engine/data.py",
        "if test_classes != classes:",
        "if len(test_classes) != len(classes):",
        "missing validation",
    ),
    Mutant(
        "jitter-uses-first-batch-scale-throughout",
        "engine/loader.py",
        "x = random_crop(resize(x, scales[i]), h, w, g)",
        "x = random_crop(resize(x, scales[0]), h, w, g)",
        "wrong variable",
    ),
    Mutant(
        "diverged-net-saved-to-model-path",
        "engine/train.py",
        "if model_path is not None and trained:",
        "if model_path is not None:",
        "dropped check",
    ),
    Mutant(
        "all-grid-knows-no-runs",
        "engine/grids.py",
        'known = {r for g, named in GRIDS.items() if name in (g, "all") for r in named}',
        "known = {r for g, named in GRIDS.items() if name == g for r in named}",
        "wrong condition",
    ),
    Mutant(
        "checkpoint-missing-part-silently-fresh",
        "engine/checkpoint.py",
        # since then a missing part is refused by name: without that check, a KeyError
        "missing = sorted(set(parts) - set(state))",
        "missing = []",
        "missing validation",
    ),
    Mutant(
        "imagenet-plateau-steps-on-training-accuracy",
        "engine/ddp.py",
        "run.scheduler.step(val_acc)",
        "run.scheduler.step(acc)",
        "wrong variable",
    ),
    Mutant(
        "rank-and-world-size-read-swapped",
        "engine/distributed.py",
        "rank, size, local = (int(env[name]) for name in RENDEZVOUS[:3])",
        "size, rank, local = (int(env[name]) for name in RENDEZVOUS[:3])",
        "swapped arguments",
    ),
    Mutant(
        "imagenet-std-is-the-variance",
        "engine/imagenet.py",
        "tuple(cov.diagonal().clamp_min(0).sqrt().tolist())",
        "tuple(cov.diagonal().clamp_min(0).tolist())",
        "wrong reduction",
    ),
    Mutant(
        "multi-crop-drops-the-flips",
        "engine/evaluate.py",
        "crops_all += [sum(both(model, c)) / 2 for c in _crops(xq, size)]",
        "crops_all += [both(model, c)[0] for c in _crops(xq, size)]",
        "dropped argument",
    ),
    Mutant(
        "warm-started-deep-imagenet-net-refused",
        "engine/presets.py",
        'if resolve(self.arch) not in SHALLOW and self.init == "paper" and not self.warm_start:',
        'if resolve(self.arch) not in SHALLOW and self.init == "paper":',
        "wrong condition",
    ),
    Mutant(
        "git-commit-recorded-short",
        "engine/provenance.py",
        'commit = _git(["rev-parse", "HEAD"], repo)',
        'commit = _git(["rev-parse", "--short", "HEAD"], repo)',
        "wrong constant",
    ),
    Mutant(
        "retest-accepts-net-without-recorded-digest",
        "engine/retest.py",
        'if result.get("model_sha256") != weights_digest(model):',
        'if result.get("model_sha256") not in (None, weights_digest(model)):',
        "missing validation",
    ),
    Mutant(
        "weights-digest-ignores-tensor-names",
        "engine/nets.py",
        "        h.update(name.encode())\n",
        "",
        "dropped argument",
    ),
    Mutant(
        "resolution-check-allows-one-pool-too-many",
        "arch/configs.py",
        "if self.resolution < 2**N_POOLS:",
        "if self.resolution < 2**(N_POOLS - 1):",
        "boundary",
    ),
    Mutant(
        "paper-literal-init-uses-paper-std",
        "arch/initialisation.py",
        '"paper_literal": _normal(1e-1),',
        '"paper_literal": _normal(1e-2),',
        "wrong constant",
    ),
    Mutant(
        "torchinfo-count-drops-conv-biases",
        "analysis/cost.py",
        "torchinfo = params * h * w * batch",
        "torchinfo = weights * h * w * batch",
        "wrong variable",
    ),
    Mutant(
        "layer-listing-shape-only-for-convs",
        "analysis/summary.py",
        'shape = f"{side}×{side}×" if layer.kind != "fc" else ""',
        'shape = f"{side}×{side}×" if layer.kind == "conv" else ""',
        "wrong condition",
    ),
    Mutant(
        "higher-claim-needs-no-clear-difference",
        "report/significance.py",
        "went_higher = c.clear and c.diff > 0",
        "went_higher = c.diff > 0",
        "dropped check",
    ),
    Mutant(
        "submission-depths-exclude-the-shallowest",
        "report/claims.py",
        "shallow <= d <= e <= deep",
        "shallow < d <= e <= deep",
        "boundary",
    ),
    Mutant(
        "val-acc-range-unchecked",
        "results/schema.py",
        '"val_acc": _SHARE,',
        '"val_acc": {"type": "number"},',
        "missing validation",
    ),
    Mutant(
        "scale-label-holds-out-the-test-count",
        "results/recorded.py",
        'held = values(lambda n: f"{n:,}", (r["data"]["n_val"] for r in runs))',
        'held = values(lambda n: f"{n:,}", (r["data"]["n_test"] for r in runs))',
        "wrong variable",
    ),
)

ROUND16: tuple[Mutant, ...] = (
    Mutant(
        "retest-out-folder-loses-grid-subfolder",
        "cli.py",
        'folder = (args.out or Path("results") / TIERS[args.preset]) / args.grid',
        'folder = args.out or Path("results") / TIERS[args.preset] / args.grid',
        "wrong folder",
    ),
    Mutant(
        "loader-workers-accepted-outside-imagenet",
        "cli.py",
        "    flags = {name: flag for name, (flag, _) in IMAGENET_OPTIONS.items()}\n"
        '    flags["loader_workers"] = "--loader-workers"\n',
        "    flags = {name: flag for name, (flag, _) in IMAGENET_OPTIONS.items()}\n",
        "dropped check",
    ),
    Mutant(
        "executed-chapter-written-into-book-folder",
        "chapters.py",
        "name: str, out: Path = NOTEBOOKS, book: Path | None = None",
        "name: str, out: Path = BOOK, book: Path | None = None",
        "wrong default",
    ),
    Mutant(
        "atomic-write-takes-no-string-path",
        "files.py",
        "    path = Path(path)\n",
        "",
        "dropped conversion",
    ),
    Mutant(
        "too-few-class-folders-accepted",
        "engine/data.py",
        "if len(classes) != NUM_CLASSES:",
        "if len(classes) > NUM_CLASSES:",
        "wrong condition",
    ),
    Mutant(
        "loader-mean-std-channels-unchecked",
        "engine/loader.py",
        "if not len(mean) == len(std) == images.shape[1]:",
        "if not len(mean) == len(std):",
        "missing validation",
    ),
    Mutant(
        "recorded-n-test-ignores-test-subset",
        "engine/train.py",
        '"n_test": len(test[1])}',
        '"n_test": len(data.test_labels)}',
        "wrong variable",
    ),
    Mutant(
        "grid-all-skips-every-grid-without-runs",
        "engine/grids.py",
        "            if chosen == ():",
        "            if not chosen:",
        "wrong condition",
    ),
    Mutant(
        "checkpoint-lacking-one-part-resumed",
        "engine/checkpoint.py",
        "    if missing:  # restoring",
        "    if len(missing) > 1:  # restoring",
        "off-by-one",
    ),
    Mutant(
        "single-process-run-records-a-backend",
        "engine/ddp.py",
        '"backend": backend(run.device) if world.distributed else None,',
        '"backend": backend(run.device),',
        "dropped condition",
    ),
    Mutant(
        "empty-rendezvous-variable-counts-as-set",
        "engine/distributed.py",
        "present = [name for name in RENDEZVOUS if env.get(name)]",
        "present = [name for name in RENDEZVOUS if name in env]",
        "wrong condition",
    ),
    Mutant(
        "hidden-folder-read-as-imagenet-class",
        "engine/imagenet.py",
        'return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))',
        "return sorted(e.name for e in entries if e.is_dir())",
        "missing validation",
    ),
    Mutant(
        "top5-of-fewer-classes-not-clamped",
        "engine/evaluate.py",
        "    k = min(k, posteriors.shape[1])\n    top = posteriors.topk(k, dim=1).indices",
        "    top = posteriors.topk(k, dim=1).indices",
        "boundary",
    ),
    Mutant(
        "zero-colour-std-refused",
        "engine/presets.py",
        "if self.colour_std is not None and self.colour_std < 0:",
        "if self.colour_std is not None and self.colour_std <= 0:",
        "boundary",
    ),
    Mutant(
        "git-commit-looked-up-from-working-folder",
        "engine/provenance.py",
        'repo = Path(_git(["rev-parse", "--show-toplevel"], Path(__file__).resolve().parent))',
        'repo = Path(_git(["rev-parse", "--show-toplevel"], Path.cwd()))',
        "wrong folder",
    ),
    Mutant(
        "retest-grid-skips-missing-nets-silently",
        "engine/retest.py",
        "    if missing:\n        names = ",
        "    if missing and not todo:\n        names = ",
        "wrong condition",
    ),
    Mutant(
        "saved-net-with-missing-weights-loads",
        "engine/nets.py",
        'model.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})',
        'model.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()}, strict=False)',  # noqa: E501
        "dropped check",
    ),
    Mutant(
        "final-map-rounded-not-floored",
        "arch/configs.py",
        "return self.resolution // 2**N_POOLS",
        "return round(self.resolution / 2**N_POOLS)",
        "wrong rounding",
    ),
    Mutant(
        "conv-claim-holds-with-no-3x3-convs",
        "analysis/summary.py",
        "len(conv3) > 0 and kept == len(conv3),",
        "kept == len(conv3),",
        "dropped check",
    ),
    Mutant(
        "batch-norm-nets-get-paper-parameter-counts",
        "analysis/cost.py",
        'paper = PUBLISHED["paper_mparams"].get(spec.config) if not spec.batch_norm else None',
        'paper = PUBLISHED["paper_mparams"].get(spec.config)',
        "dropped condition",
    ),
    Mutant(
        "one-run-arm-counted-testable",
        "report/significance.py",
        "self.df >= 1 and self.n_a >= 2 and self.n_b >= 2",
        "self.df >= 1 and self.n_a >= 2",
        "dropped check",
    ),
    Mutant(
        "probe-partly-supported-on-either-test",
        "report/features.py",
        "    if rises and beats_random:\n",
        "    if rises or beats_random:\n",
        "wrong condition",
    ),
    Mutant(
        "save-result-skips-validation",
        "results/io.py",
        "return write_json(validate(result, str(path)), path)",
        "return write_json(result, path)",
        "missing validation",
    ),
    Mutant(
        "tested-with-counts-diverged-runs",
        "results/recorded.py",
        'done = [r for r in self.runs if r["status"] == "completed"]',
        'done = [r for r in self.runs if r["status"] != "stalled"]',
        "wrong condition",
    ),
)

ROUND17: tuple[Mutant, ...] = (
    Mutant(
        "single-run-checkpoint-outside-single-folder",
        "cli.py",
        'checkpoint = args.checkpoints / "single" / f"{tag}.ckpt.pt"',
        'checkpoint = args.checkpoints / f"{tag}.ckpt.pt"',
        "wrong folder",
    ),
    Mutant(
        "resumed-wall-time-adds-the-wrong-way",
        "engine/train.py",
        't0 -= done["wall_time"]  # the wall time counts an interrupted process too',
        't0 += done["wall_time"]  # the wall time counts an interrupted process too',
        "wrong sign",
    ),
    Mutant(
        "torchvision-download-into-cache-root",
        "engine/data.py",
        'return _load_torchvision(cache_dir / "torchvision")',
        "return _load_torchvision(cache_dir)",
        "wrong folder",
    ),
    Mutant(
        "top5-error-counts-top1-hits",
        "engine/evaluate.py",
        '"top5_error": 100 * (1 - c5 / total)',
        '"top5_error": 100 * (1 - c1 / total)',
        "wrong variable",
    ),
    Mutant(
        "retest-refuses-stalled-runs",
        "engine/retest.py",
        'if result["status"] == "diverged":',
        'if result["status"] != "completed":',
        "wrong condition",
    ),
    Mutant(
        "imagefolder-lists-hidden-image-files",
        "engine/imagenet.py",
        'if e.is_file() and not e.name.startswith(".")',
        "if e.is_file()",
        "dropped check",
    ),
    Mutant(
        "imagenet-scaled-views-go-to-validation",
        "engine/ddp.py",
        "for scales in ((), cfg.test_scales())",
        "for scales in (cfg.test_scales(), ())",
        "swapped arguments",
    ),
    Mutant(
        "per-rank-batch-not-divided",
        "engine/distributed.py",
        "    return global_batch // world.size",
        "    return global_batch",
        "wrong arithmetic",
    ),
    Mutant(
        "warm-start-always-from-seed-0-net",
        "engine/grids.py",
        "checkpoints / name / f\"{chosen['warm_start']}-s{seed}.model.pt\"",
        "checkpoints / name / f\"{chosen['warm_start']}-s0.model.pt\"",
        "wrong value",
    ),
    Mutant(
        "imagenet-equal-jitter-bounds-refused",
        "engine/presets.py",
        "if self.jitter is not None and not self.jitter[0] <= self.jitter[1]:",
        "if self.jitter is not None and not self.jitter[0] < self.jitter[1]:",
        "boundary",
    ),
    Mutant(
        "a-lrn-normalises-before-first-conv",
        "arch/configs.py",
        '"A-LRN": [[_C3[64], LRN], [_C3[128]],',
        '"A-LRN": [[LRN, _C3[64]], [_C3[128]],',
        "wrong order",
    ),
    Mutant(
        "warm-start-skips-shape-check",
        "arch/initialisation.py",
        "if dst is None or dst.weight.shape != src_layer.weight.shape:",
        "if dst is None:",
        "dropped check",
    ),
    Mutant(
        "published-figures-for-any-width",
        "analysis/cost.py",
        "return (spec.resolution, spec.num_classes, spec.width, spec.fc_width) == "
        "(224, 1000, 1.0, 4096)",
        "return (spec.resolution, spec.num_classes) == (224, 1000)",
        "dropped check",
    ),
    Mutant(
        "compare-fields-leaves-out-pools",
        "analysis/receptive.py",
        'table["kind"].isin(["conv", "maxpool"])',
        'table["kind"].isin(["conv"])',
        "missed branch",
    ),
    Mutant(
        "export-csv-makes-no-nested-folders",
        "results/io.py",
        "path.parent.mkdir(parents=True, exist_ok=True)",
        "path.parent.mkdir(exist_ok=True)",
        "folder handling",
    ),
    Mutant(
        "schema-refuses-null-backend",
        "results/schema.py",
        '"backend": {"enum": ["nccl", "gloo", None]},',
        '"backend": {"enum": ["nccl", "gloo"]},',
        "lost value",
    ),
    Mutant(
        "provenance-table-hides-unknown-dirtiness",
        "results/recorded.py",
        '{True: "+dirty", False: "", None: " (dirty?)"}',
        '{True: "+dirty", False: "", None: ""}',
        "lost field",
    ),
    Mutant(
        "book-tables-not-html-escaped",
        "report/tables.py",
        'classes="dataframe", border=0, escape=True',
        'classes="dataframe", border=0, escape=False',
        "wrong default",
    ),
    Mutant(
        "depth-stalled-counts-diverged",
        "report/depth.py",
        '"stalled": int((group["status"] == "stalled").sum()),',
        '"stalled": int((group["status"] == "diverged").sum()),',
        "wrong value",
    ),
    Mutant(
        "t-statistic-loses-sign-at-zero-se",
        "report/significance.py",
        "return 0.0 if diff == 0 else math.copysign(math.inf, diff)",
        "return 0.0 if diff == 0 else math.inf",
        "wrong sign",
    ),
    Mutant(
        "final-fit-includes-stalled-runs",
        "report/training.py",
        'curves = learning_curves(r for r in runs if r["status"] == "completed")',
        'curves = learning_curves(r for r in runs if r["status"] != "diverged")',
        "wrong condition",
    ),
    Mutant(
        "combined-protocol-vs-crop-compares-dense",
        "report/ablations.py",
        'vs_crop = paired(g, "multi-crop", "dense + multi-crop")',
        'vs_crop = paired(g, "dense multi-scale", "dense + multi-crop")',
        "wrong variable",
    ),
    Mutant(
        "c-beats-b-arms-swapped",
        "report/claims.py",
        'claim, "vgg13", "vgg16_1x1", "lower", "book/ablations")',
        'claim, "vgg16_1x1", "vgg13", "lower", "book/ablations")',
        "swapped arguments",
    ),
    Mutant(
        "features-looks-for-torchvision-copy-in-cache-root",
        "report/features.py",
        'downloaded = cache_folder().expanduser() / "torchvision" / TORCHVISION_FOLDER',
        "downloaded = cache_folder().expanduser() / TORCHVISION_FOLDER",
        "wrong folder",
    ),
)

SETS: dict[str, tuple[Mutant, ...]] = {
    "fresh": FRESH,
    "issue": ISSUE,
    "round2": ROUND2,
    "round3": ROUND3,
    "round4": ROUND4,
    "round5": ROUND5,
    "round6": ROUND6,
    "round7": ROUND7,
    "round8": ROUND8,
    "round9": ROUND9,
    "round10": ROUND10,
    "round11": ROUND11,
    "round12": ROUND12,
    "round13": ROUND13,
    "round14": ROUND14,
    "round15": ROUND15,
    "round16": ROUND16,
    "round17": ROUND17,
    "all": (
        FRESH
        + ISSUE
        + ROUND2
        + ROUND3
        + ROUND4
        + ROUND5
        + ROUND6
        + ROUND7
        + ROUND8
        + ROUND9
        + ROUND10
        + ROUND11
        + ROUND12
        + ROUND13
        + ROUND14
        + ROUND15
        + ROUND16
        + ROUND17
    ),
}

COVERING: dict[str, tuple[str, ...]] = {
    "engine/train.py": ("tests/test_train.py", "tests/test_recipe.py"),
    "engine/presets.py": (
        "tests/test_train.py",
        "tests/test_recipe.py",
        "tests/test_distributed.py",
    ),
    "engine/nets.py": ("tests/test_train.py", "tests/test_retest.py"),
    "engine/checkpoint.py": ("tests/test_train.py",),
    "engine/evaluate.py": (
        "tests/test_evaluate.py",
        "tests/test_recipe.py",
        "tests/test_distributed.py",
    ),
    "engine/loader.py": ("tests/test_loader.py", "tests/test_recipe.py"),
    "results/io.py": ("tests/test_results.py",),
    "results/schema.py": ("tests/test_results.py", "tests/test_layout.py"),
    "report/significance.py": (
        "tests/test_stats.py",
        "tests/test_ablations.py",
        "tests/test_recipe.py",
    ),
    "report/training.py": ("tests/test_stats.py", "tests/test_recipe.py"),
    "report/depth.py": ("tests/test_stats.py", "tests/test_claims.py"),
    "arch/models.py": ("tests/test_models.py",),
    "arch/initialisation.py": ("tests/test_models.py",),
    "arch/configs.py": ("tests/test_models.py", "tests/test_cost.py"),
    "analysis/cost.py": ("tests/test_cost.py", "tests/test_receptive.py"),
    "cli.py": ("tests/test_cli.py", "tests/test_layout.py"),
    "engine/data.py": ("tests/test_data.py",),
    "engine/grids.py": ("tests/test_grids.py",),
    "engine/retest.py": ("tests/test_retest.py",),
    "results/recorded.py": ("tests/test_recorded.py",),
    "report/tables.py": ("tests/test_tables.py",),
    "report/ablations.py": ("tests/test_ablations.py",),
    "report/claims.py": ("tests/test_claims.py",),
    "report/features.py": ("tests/test_features.py",),
    "analysis/receptive.py": ("tests/test_receptive.py",),
    "analysis/summary.py": ("tests/test_environment.py",),
    "engine/provenance.py": ("tests/test_provenance.py",),
    "chapters.py": ("tests/test_chapters.py",),
    "engine/distributed.py": ("tests/test_distributed.py",),
    "engine/imagenet.py": ("tests/test_distributed.py",),
    "engine/ddp.py": ("tests/test_distributed.py",),
    "reference.py": (
        "tests/test_cost.py",
        "tests/test_claims.py",
        "tests/test_ablations.py",
        "tests/test_benchmarks.py",
    ),
    "files.py": ("tests/test_layout.py", "tests/test_results.py"),
    "analysis/figures.py": ("tests/test_figures.py",),
}
"""The test files that cover each source file: all a mutant of that file is run against."""


def check(mutant: Mutant, src: Path = ROOT / PACKAGE) -> str:
    """The mutated file's text; ValueError unless ``mutant.old`` occurs exactly once."""
    text = (src / mutant.file).read_text(encoding="utf-8")
    count = text.count(mutant.old)
    if count != 1:
        raise ValueError(
            f"mutant {mutant.name}: its old text occurs {count} times in {mutant.file}, not once; "
            "update it to the current source"
        )
    return text.replace(mutant.old, mutant.new)


def copy_checkout(into: Path) -> Path:
    """A copy of ``src/`` under ``into`` beside links to everything else in the checkout (modules
    that find the checkout from their own path, such as ``recorded.ROOT``, see it there)."""
    shutil.copytree(
        ROOT / "src", into / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for entry in ROOT.iterdir():
        if entry.name not in {"src", ".venv"}:
            (into / entry.name).symlink_to(entry)
    return into / "src"


@dataclass
class Outcome:
    mutant: Mutant | None
    caught: bool
    verdict: str  # caught (tests failed), missed (tests passed), timeout (counts as caught), error
    seconds: float
    detail: str


def pytest_run(
    src: Path,
    tests: Sequence[str],
    slow: bool,
    timeout: float,
    show: bool = False,
    checkout: Path = ROOT,
) -> tuple[str, str]:
    """Run ``tests`` (paths in ``checkout``) against the package in ``src``: ("passed",
    "failed", "timeout" or "error", and the first failure or pytest's summary line). ``show``
    prints the end of pytest's output."""
    marks = "not browser" if slow else "not slow and not browser"
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    command += ["-m", marks, *tests]
    path = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(
            command, cwd=checkout, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return "timeout", f"no result within {timeout:.0f} s"
    lines = done.stdout.splitlines()
    if show:
        print("\n".join(lines[-30:]), flush=True)
    failed = [ln for ln in lines if ln.startswith(("FAILED ", "ERROR "))]
    summary = lines[-1] if lines else done.stderr.strip()[-200:]
    if done.returncode == 0:
        return "passed", summary
    if done.returncode in (1, 2):  # tests failed, or collection failed (e.g. an import)
        return "failed", (failed[0] if failed else summary)[:160]
    return "error", f"pytest exit code {done.returncode}: {summary}"[:160]


def book_run(src: Path, timeout: float, checkout: Path = ROOT) -> tuple[str, str]:
    """The rest of ``make test`` against the package in ``src``: build the book in ``checkout``
    with warnings as errors, then run the browser tests on it (which include "the build changed
    no file in the checkout", so a mutant that alters a cited table is caught there). The
    checkout must be clean; every file the build changed is restored afterwards."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=checkout, capture_output=True, text=True)
        return done.stdout

    if git("status", "--porcelain", "--untracked-files=all"):
        raise SystemExit(f"{checkout} has uncommitted changes; the book stage needs a clean one")
    path = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    build = checkout / "_build"
    shutil.rmtree(build / ".jupyter_cache", ignore_errors=True)
    shutil.rmtree(build / "html" / "reports", ignore_errors=True)
    build.mkdir(exist_ok=True)
    (build / "git-status-before").write_text("")
    jupyter_book = str(Path(sys.executable).parent / "jupyter-book")
    steps = [
        ([jupyter_book, "build", ".", "--builder", "html", "--all", "-W", "--keep-going"], {0}),
        ([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "browser"],
         {0, 5}),
    ]  # fmt: skip
    try:
        for command, fine in steps:
            done = subprocess.run(
                command, cwd=checkout, env=env, capture_output=True, text=True, timeout=timeout
            )
            lines = (done.stdout + done.stderr).strip().splitlines()
            if done.returncode not in fine:
                failed = [ln for ln in lines if ln.startswith(("FAILED ", "ERROR "))]
                shown = failed[0] if failed else f"{Path(command[0]).name}: {lines[-1]}"
                return "failed", shown[:160]
        return "passed", lines[-1][:160] if lines else ""
    except subprocess.TimeoutExpired:
        return "timeout", f"no result within {timeout:.0f} s"
    finally:
        git("checkout", "--", ".")
        git("clean", "-fdq")  # untracked files the build added (ignored ones stay)


def imported_from(src: Path) -> Path:
    """Where a child process with ``src`` on PYTHONPATH imports vggrepro from."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = "import vggrepro, sys; sys.stdout.write(vggrepro.__file__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return Path(out.stdout).resolve()


def run_one(
    mutant: Mutant | None,
    tests: Sequence[str],
    slow: bool = False,
    timeout: float = 900,
    show: bool = False,
    checkout: Path = ROOT,
    book: bool = False,
) -> Outcome:
    """Plant ``mutant`` (None: no change) in a fresh copy of ``src/`` and run ``tests`` (of
    ``checkout``) against it; with ``book``, build the book and run the browser tests instead
    (``book_run``)."""
    with tempfile.TemporaryDirectory(prefix="vggrepro-mutant-") as tmp:
        src = copy_checkout(Path(tmp))
        package = src / "vggrepro"
        if imported_from(src) != (package / "__init__.py").resolve():
            raise SystemExit(f"PYTHONPATH={src} does not shadow the installed vggrepro")
        if mutant is not None:
            (package / mutant.file).write_text(check(mutant, package), encoding="utf-8")
        start = time.perf_counter()
        if book:
            result, detail = book_run(src, timeout, checkout)
        else:
            result, detail = pytest_run(src, tests, slow, timeout, show, checkout)
    seconds = time.perf_counter() - start
    verdict = {"passed": "missed", "failed": "caught"}.get(result, result)
    return Outcome(mutant, verdict in ("caught", "timeout"), verdict, seconds, detail)


def table(outcomes: Sequence[Outcome]) -> str:
    """The outcomes as a Markdown table, with the catch rate."""
    rows = ["| mutant | file | kind | caught? | seconds | first failure |", "|---" * 6 + "|"]
    for o in outcomes:
        m = o.mutant
        assert m is not None
        detail = o.detail.replace("|", "/")
        rows.append(
            f"| {m.name} | {m.file} | {m.kind} | {o.verdict} | {o.seconds:.0f} | {detail} |"
        )
    caught = sum(o.caught for o in outcomes)
    rate = 100 * caught / len(outcomes) if outcomes else float("nan")
    rows.append(f"\ncaught {caught} of {len(outcomes)} mutants: {rate:.0f} %")
    return "\n".join(rows)


def book_baseline(args: argparse.Namespace) -> None:
    """The book build and browser tests, unmutated: they must pass, or no mutant's failure
    there would be the mutant's doing."""
    base = run_one(None, [], timeout=args.timeout, checkout=args.checkout, book=True)
    print(f"baseline, book and browser tests: {base.detail} ({base.seconds:.0f} s)", flush=True)
    if base.verdict != "missed":
        raise SystemExit("the book build or the browser tests fail without a mutant")


def book_stage(mutants: Sequence[Mutant], args: argparse.Namespace) -> list[Outcome]:
    """The book build and browser tests alone, first unmutated (they must pass), then for each
    of ``mutants``."""
    book_baseline(args)
    outcomes = []
    for m in mutants:
        o = run_one(m, [], timeout=args.timeout, checkout=args.checkout, book=True)
        o.verdict += " by the book build or browser tests"
        print(f"{m.name}: {o.verdict} ({o.seconds:.0f} s)", flush=True)
        outcomes.append(o)
    print()
    print(table(outcomes))
    return outcomes


def main(argv: Sequence[str] | None = None) -> list[Outcome]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=list(SETS), default="fresh")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    parser.add_argument("--tests", nargs="+", metavar="TEST", help="instead of COVERING")
    parser.add_argument("--slow", action="store_true", help="include tests marked slow")
    parser.add_argument(
        "--make-test",
        action="store_true",
        help="run a mutant the covering tests miss against every test `make test` runs before "
        "the book build (slow ones included)",
    )
    parser.add_argument(
        "--book",
        action="store_true",
        help="with --make-test: a mutant the whole suite misses goes on to the rest of `make "
        "test`, the book build with warnings as errors and the browser tests (needs a clean "
        "checkout, which it restores)",
    )
    parser.add_argument(
        "--book-only",
        action="store_true",
        help="only that last stage, for mutants an earlier run found the whole suite misses",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per mutant")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--show", action="store_true", help="print the end of each pytest run")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="run the tests of this folder instead (e.g. a `git archive` of an older commit's "
        "tests/ and pyproject.toml), against this checkout's mutated src/",
    )
    args = parser.parse_args(argv)

    mutants = list(SETS[args.set])
    if args.only:
        unknown = set(args.only) - {m.name for m in mutants}
        if unknown:
            parser.error(f"no mutants {sorted(unknown)} in set {args.set!r}")
        mutants = [m for m in mutants if m.name in args.only]
    for m in mutants:
        check(m)  # every old text still occurs exactly once, before anything runs
    if args.list:
        for m in mutants:
            print(f"{m.name:45} {m.file:18} {m.kind}")
        return []

    def tests_for(m: Mutant) -> list[str]:
        return list(args.tests or COVERING[m.file])

    if args.book_only:
        return book_stage(mutants, args)
    if not args.no_baseline:
        union = sorted({t for m in mutants for t in tests_for(m)})
        base = run_one(None, union, args.slow, args.timeout, args.show, args.checkout)
        print(f"baseline, no mutant: {base.detail} ({base.seconds:.0f} s)", flush=True)
        if base.verdict != "missed":  # the unmutated code failed its own tests
            raise SystemExit("the covering tests fail without a mutant; fix them first")
        if args.make_test:  # a failure of the whole suite must be the mutant's doing
            whole = run_one(None, ["tests"], True, args.timeout, args.show, args.checkout)
            print(f"baseline, whole suite: {whole.detail} ({whole.seconds:.0f} s)", flush=True)
            if whole.verdict != "missed":
                raise SystemExit("the whole suite fails without a mutant; fix it first")
        if args.make_test and args.book:
            book_baseline(args)
    outcomes = []
    for m in mutants:
        o = run_one(m, tests_for(m), args.slow, args.timeout, args.show, args.checkout)
        if args.make_test and o.verdict == "missed":
            whole = run_one(m, ["tests"], True, args.timeout, args.show, args.checkout)
            verdict = f"{whole.verdict} by the whole suite"
            o = Outcome(m, whole.caught, verdict, o.seconds + whole.seconds, whole.detail)
            if args.book and not whole.caught:
                built = run_one(m, [], timeout=args.timeout, checkout=args.checkout, book=True)
                verdict = f"{built.verdict} by the book build or browser tests"
                o = Outcome(m, built.caught, verdict, o.seconds + built.seconds, built.detail)
        print(f"{m.name}: {o.verdict} ({o.seconds:.0f} s)", flush=True)
        outcomes.append(o)
    print()
    print(table(outcomes))
    return outcomes


if __name__ == "__main__":
    main()
