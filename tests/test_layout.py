"""The package's shape: layers imported one way, short functions, one home for shared pieces."""

from __future__ import annotations

import ast
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vggrepro import cli
from vggrepro.engine.presets import TrainConfig
from vggrepro.files import atomic_write, cache_folder, project_root
from vggrepro.results import recorded
from vggrepro.results.schema import SCHEMA, ResultError, RunResult, validate

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "vggrepro"
LAYERS = ("arch", "analysis", "results", "engine", "report")
"""The subpackages, lowest first: each may import its own and lower ones, never a higher one."""
LEAVES = {"files", "reference"}
"""Modules every layer may import; they import no other part of the package."""


def _layer(module: str) -> int:
    """A dotted module below ``vggrepro`` -> its layer (top-level modules above all layers)."""
    head = module.split(".")[0]
    return LAYERS.index(head) if head in LAYERS else len(LAYERS)


def _imports(path: Path) -> list[str]:
    """The modules of the package that the file imports, as dotted names below ``vggrepro``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vggrepro"):
            base = node.module.removeprefix("vggrepro").lstrip(".")
            found += [f"{base}.{a.name}".lstrip(".") for a in node.names] if not base else [base]
        elif isinstance(node, ast.Import):
            found += [
                a.name.removeprefix("vggrepro.")
                for a in node.names
                if a.name.startswith("vggrepro.")
            ]
    return found


def _modules() -> list[tuple[str, Path]]:
    return [
        (".".join(p.relative_to(PACKAGE).with_suffix("").parts), p)
        for p in sorted(PACKAGE.rglob("*.py"))
    ]


def test_the_subpackages_are_the_five_layers() -> None:
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(LAYERS)


@pytest.mark.parametrize("module, path", _modules(), ids=[m for m, _ in _modules()])
def test_imports_run_one_way(module: str, path: Path) -> None:
    """A module imports leaves, its own layer and lower layers only: the engine never imports
    the report, the architecture nothing but leaves."""
    wrong = []
    for target in _imports(path):
        head = target.split(".")[0]
        if head in LEAVES:
            continue
        if module.split(".")[0] in LEAVES or _layer(target) > _layer(module):
            wrong.append(target)
    assert not wrong, f"{module} imports {wrong}, above its layer"


def test_statistics_and_reading_results_do_not_load_torch() -> None:
    code = (
        "import sys\n"
        "import vggrepro.report.significance, vggrepro.report.depth, vggrepro.report.training\n"
        "import vggrepro.results.recorded\n"
        "print('torch' in sys.modules)\n"
    )
    env = os.environ | {"PYTHONPATH": str(PACKAGE.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "False", out.stderr


def test_no_function_is_longer_than_60_lines_unless_a_comment_says_why() -> None:
    long = []
    for module, path in _modules():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 60:
                body = lines[node.lineno - 1 : node.end_lineno]
                if not any(line.strip().startswith("# Long") for line in body):
                    long.append(f"{module}.{node.name}")
    assert not long


def test_atomic_write_keeps_the_old_file_on_an_error_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sub" / "folders" / "f.json"  # two folders that do not exist yet
    with atomic_write(path, "w") as f:
        f.write("old")
    assert path.read_text() == "old" and stat.S_IMODE(path.stat().st_mode) == 0o644
    with atomic_write(str(path), "w") as f:  # a path given as text, as scripts do
        f.write("old")
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.json"]
    with pytest.raises(RuntimeError), atomic_write(path, "w") as f:
        f.write("half")
        (temporary,) = (p.name for p in path.parent.iterdir() if p.name != "f.json")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.json"]
    # Hidden, and named as the cache's clean-up looks for: ".<name>.<random>.tmp".
    assert temporary.startswith(".f.json.") and temporary.endswith(".tmp")


def test_atomic_write_syncs_the_new_file_to_disk_before_it_replaces_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.bin"
    synced = []

    def fsync(fd: int) -> None:
        synced.append((os.fstat(fd).st_size, path.exists()))

    monkeypatch.setattr(os, "fsync", fsync)
    with atomic_write(path) as f:
        f.write(b"12345")
    assert synced == [(5, False)] and path.read_bytes() == b"12345"


def test_an_interrupted_atomic_write_leaves_no_temporary(tmp_path: Path) -> None:
    """Ctrl-C (a KeyboardInterrupt, no Exception) mid-write removes the temporary file too."""
    path = tmp_path / "f.json"
    with pytest.raises(KeyboardInterrupt), atomic_write(path, "w") as f:
        f.write("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_the_cache_folder_is_the_environments_else_one_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VGGREPRO_CACHE", str(tmp_path / "c"))
    assert cache_folder() == tmp_path / "c"
    monkeypatch.setenv("VGGREPRO_CACHE", "")  # set but empty: the default
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_folder() == tmp_path / "home" / ".cache" / "vggrepro"


def test_the_project_root_is_found_from_below_and_not_assumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert project_root(ROOT / "book") == ROOT
    monkeypatch.chdir(ROOT / "book")  # no start given: the working folder
    assert project_root() == ROOT


def test_the_nearest_checkout_wins_and_the_start_folder_may_be_one(tmp_path: Path) -> None:
    inner = tmp_path / "copy"
    for folder in (tmp_path, inner):  # a checkout inside another, as a worktree can be
        (folder / "results").mkdir(parents=True)
        (folder / "_config.yml").touch()
    assert project_root(inner) == inner.resolve()
    assert project_root(inner / "results") == inner.resolve()
    assert project_root(tmp_path) == tmp_path.resolve()  # no checkout above: where it is


def test_outside_any_checkout_the_root_is_the_start_folder_not_the_working_one(
    tmp_path: Path,
) -> None:
    """An installed package used elsewhere: no folder above ``start`` is a checkout, so
    ``start`` is the root, wherever the process runs (here: in this checkout)."""
    start = tmp_path / "elsewhere"
    start.mkdir()
    assert project_root(start) == start.resolve() != Path.cwd().resolve()


@pytest.mark.parametrize("marker", ["_config.yml", "results"])
def test_one_marker_alone_is_not_a_checkout(tmp_path: Path, marker: str) -> None:
    """A folder with only a ``_config.yml`` (another Jupyter Book) or only a ``results`` folder
    is not taken for the checkout: the search goes on up to the folder that holds both."""
    (tmp_path / "_config.yml").touch()
    (tmp_path / "results").mkdir()
    inner = tmp_path / "project" / "book"
    inner.mkdir(parents=True)
    if marker == "results":
        (inner.parent / marker).mkdir()
    else:
        (inner.parent / marker).touch()
    assert project_root(inner) == tmp_path.resolve()


def test_reading_results_never_trains(tmp_path: Path) -> None:
    with pytest.raises(ResultError, match=r"no recorded runs of grid 'lrn'.*make smoke"):
        recorded.load_grid("lrn", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_schema_is_built_from_the_typed_result() -> None:
    names = [f for f in RunResult.__dataclass_fields__]
    assert list(SCHEMA["properties"]) == names
    assert set(names) - set(SCHEMA["required"]) == {"model_sha256", "retest", "probe"}
    with pytest.raises(TypeError):
        RunResult(run_id="x")  # every required field must be given


def test_a_typed_result_is_checked_against_the_schema(tiny_run: dict) -> None:
    fields = {k: v for k, v in tiny_run.items() if k in RunResult.__dataclass_fields__}
    assert RunResult(**fields).to_dict() == {k: v for k, v in tiny_run.items() if k in fields}
    with pytest.raises(ResultError, match=r"\.status"):
        validate(RunResult(**{**fields, "status": "finished"}).to_dict())


def test_the_train_command_takes_training_options_by_their_field_names() -> None:
    assert set(cli.TRAIN_OPTIONS) <= TrainConfig.options()
    args = cli.parser().parse_args(["train", "--bn", "--lr", "0.1", "--n-val", "20"])
    assert cli._chosen(args) == {
        "arch": "vgg11", "batch_norm": True, "init": "kaiming", "seed": 0, "lr": 0.1, "n_val": 20
    }  # fmt: skip


def test_the_package_works_outside_a_checkout(tmp_path: Path) -> None:
    """Installed without -e (here: copied to a folder that is no checkout), the package finds
    results under the working folder and reports its commit as unknown, assuming no layout."""
    import shutil

    site, work = tmp_path / "site", tmp_path / "work"
    shutil.copytree(PACKAGE, site / "vggrepro")
    work.mkdir()
    code = (
        "from vggrepro.results import recorded\n"
        "from vggrepro.engine.provenance import git_commit\n"
        "print(recorded.RESULTS, git_commit())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VGGREPRO_")}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=work
    )
    assert out.stdout.split() == [str(work.resolve() / "results"), "('unknown',", "None)"], (
        out.stderr
    )


def test_a_relative_start_is_resolved_before_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """``project_root(Path("book"))`` from the checkout is the checkout itself, as an absolute
    path, not the relative folder ``.`` that happens to hold the markers."""
    monkeypatch.chdir(ROOT)
    assert project_root(Path("book")) == ROOT
    assert project_root(Path("book")).is_absolute()


@pytest.mark.parametrize("wrong", ["results", "_config.yml"])
def test_markers_of_the_wrong_kind_are_not_a_checkout(tmp_path: Path, wrong: str) -> None:
    """The checkout holds a ``_config.yml`` file and a ``results`` folder: a file named
    ``results`` or a folder named ``_config.yml`` does not make one."""
    (tmp_path / "_config.yml").touch()
    (tmp_path / "results").mkdir()
    inner = tmp_path / "project"
    (inner / "book").mkdir(parents=True)
    if wrong == "results":
        (inner / "results").touch()
        (inner / "_config.yml").touch()
    else:
        (inner / "results").mkdir()
        (inner / "_config.yml").mkdir()
    assert project_root(inner / "book") == tmp_path.resolve()
