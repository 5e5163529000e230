"""The shape of the code: one-way layers (import-linter), one import name, no bare top-level imports."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import grimp
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The folders at the repo root that install as subpackages of `pixseek`: the links in
# pixseek/ are the one list (docs/development.md says why they are linked).
MAPPED = tuple(sorted(p.name for p in (REPO_ROOT / "pixseek").iterdir() if p.is_symlink()))


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the project's contracts, importing `pixseek` from `cwd`."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
            "--no-cache",
            "--config",
            str(cwd / "pyproject.toml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
    )


def test_import_contracts_are_kept() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contracts(tmp_path: Path) -> None:
    # A copy of the package with one import against the layering: the catalog reaching up
    # into the query side. The contracts must name it.
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(
        REPO_ROOT / "pixseek", copy / "pixseek", symlinks=False, ignore=shutil.ignore_patterns("__pycache__")
    )
    catalog = copy / "pixseek" / "index" / "catalog" / "images.py"
    catalog.write_text(catalog.read_text() + "\nfrom pixseek.search import query  # noqa: E402\n")
    result = _lint_imports(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pixseek.index.catalog.images -> pixseek.search.query" in result.stdout


def _python_files() -> list[Path]:
    roots = [REPO_ROOT / name for name in (*MAPPED, "pixseek", "tests", "bench")]
    return [p for root in roots for p in root.rglob("*.py") if root.name == "pixseek" or not p.is_symlink()]


def test_nothing_imports_the_folders_by_their_bare_names() -> None:
    # From the repo root `import ingest` would work and load a second copy of every module
    # (two ORM registries, two settings caches): only `pixseek.ingest` is the real one.
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(REPO_ROOT)}: {n}" for n in names if n.split(".")[0] in MAPPED]
    assert offenders == []


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_name(tmp_path: Path) -> None:
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    for name in ("pixseek", *MAPPED):
        shutil.copytree(
            REPO_ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=source,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("pixseek-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"pixseek"}
    for package in (*MAPPED, "core", "model", "media", "access", "cli", "migrations"):
        assert f"pixseek/{package}/__init__.py" in names, package
    assert "pixseek/model/configs/pixseek-tiny.json" in names
    assert "pixseek/migrations/script.py.mako" in names
    assert "pixseek/ingest/run.py" in names
    assert "pixseek/index/catalog/data/default_tags.json" in names
    assert "pixseek/index/vectors/store.py" in names
    # The web UI's pages and assets travel with the code that serves them.
    assert "pixseek/api/web/templates/search.html" in names
    assert "pixseek/api/web/static/app.js" in names


def test_the_catalog_never_imports_the_vector_indexes(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(
        REPO_ROOT / "pixseek", copy / "pixseek", symlinks=False, ignore=shutil.ignore_patterns("__pycache__")
    )
    jobs = copy / "pixseek" / "index" / "catalog" / "jobs.py"
    jobs.write_text(jobs.read_text() + "\nfrom pixseek.index.vectors import store  # noqa: E402\n")
    result = _lint_imports(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pixseek.index.catalog.jobs -> pixseek.index.vectors.store" in result.stdout


def _import_cycles() -> list[list[str]]:
    """Strongly connected groups of pixseek modules (Tarjan's algorithm): each an import cycle."""
    graph = grimp.build_graph("pixseek", include_external_packages=False)
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    # A cycle (a imports b imports a) makes import order matter and hides that two modules
    # are really one; imports under TYPE_CHECKING count too.
    assert _import_cycles() == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(
        REPO_ROOT / "pixseek", copy / "pixseek", symlinks=False, ignore=shutil.ignore_patterns("__pycache__")
    )
    cpu = copy / "pixseek" / "core" / "cpu.py"
    cpu.write_text(cpu.read_text() + "\nfrom pixseek.core import redact  # noqa: E402\n")
    redact = copy / "pixseek" / "core" / "redact.py"
    redact.write_text(redact.read_text() + "\nfrom pixseek.core import cpu  # noqa: E402\n")
    script = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); "
        "from tests.test_architecture import _import_cycles; print(json.dumps(_import_cycles()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(copy)], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert ["pixseek.core.cpu", "pixseek.core.redact"] in json.loads(result.stdout)
