"""The code-quality gates run as tests, so the README's one test command covers them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.integration
def test_ruff_clean() -> None:
    """`ruff check` reports nothing on the package, the tests, models/ and scripts/."""
    res = subprocess.run(
        [str(BIN / "ruff"), "check", "edge", "tests", "models", "scripts"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.integration
def test_mypy_strict_clean() -> None:
    """`mypy --strict edge` reports no error."""
    res = subprocess.run(
        [str(BIN / "mypy"), "--strict", "edge"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def _package_of(module: str) -> str:
    """``edge.publish.mqtt`` -> ``edge.publish``; a loose module is its own node."""
    return ".".join(module.split(".")[:2])


def package_imports(root: Path) -> dict[str, set[str]]:
    """Which ``edge`` packages each package imports (every import statement, also inside
    functions, so a deferred import cannot hide a cycle)."""
    import ast

    graph: dict[str, set[str]] = {}
    for path in sorted((root / "edge").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        node = _package_of(module)
        deps = graph.setdefault(node, set())
        for item in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(item, ast.Import):
                names = [alias.name for alias in item.names]
            elif isinstance(item, ast.ImportFrom) and item.module and item.level == 0:
                names = [item.module]
            for name in names:
                if name.startswith("edge.") and _package_of(name) != node:
                    deps.add(_package_of(name))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle between packages, as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep):], dep]
            if dep not in state and (cycle := visit(dep)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_cycle_finder_finds_a_planted_cycle() -> None:
    """The cycle check is live: a graph with a -> b -> c -> a is reported as that cycle."""
    graph = {"edge.a": {"edge.b"}, "edge.b": {"edge.c"}, "edge.c": {"edge.a"}, "edge.d": set()}
    assert find_cycle(graph) == ["edge.a", "edge.b", "edge.c", "edge.a"]
    assert find_cycle({"edge.a": {"edge.b"}, "edge.b": set()}) is None


def test_no_import_cycle_between_packages() -> None:
    """No package of edge/ imports, directly or through others, a package that imports it
    (deferred imports inside functions count too)."""
    graph = package_imports(REPO_ROOT)
    assert "edge.config" in graph and "edge.app" in graph
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


#: Server-side packages (docs/fleet.md): their dependencies are the optional `fleet` extra.
SERVER_PACKAGES = frozenset({"edge.fleet"})


def device_imports_of_server(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Device packages (everything but the server ones) that import a server package."""
    return {
        node: deps & SERVER_PACKAGES
        for node, deps in graph.items()
        if node not in SERVER_PACKAGES and deps & SERVER_PACKAGES
    }


def test_server_check_finds_a_planted_import() -> None:
    """The device/server check is live: a device package importing edge.fleet is reported,
    the fleet importing device packages is fine."""
    graph = {"edge.publish": {"edge.fleet"}, "edge.fleet": {"edge.publish", "edge.contract"}}
    assert device_imports_of_server(graph) == {"edge.publish": {"edge.fleet"}}


def test_device_never_imports_the_server_side() -> None:
    """No device package imports edge.fleet (directly; with no cycles that covers indirect
    ones too), so the Pi's install never needs the fleet extra's database driver."""
    graph = package_imports(REPO_ROOT)
    assert device_imports_of_server(graph) == {}
    paths = {node for deps in graph.values() for node in deps} | set(graph)
    closure = {"edge.app"}
    while True:
        more = {d for n in closure for d in graph.get(n, ())} - closure
        if not more:
            break
        closure |= more
    assert "edge.app" in paths and not closure & SERVER_PACKAGES


def test_layout_keeps_few_loose_modules_and_small_modules() -> None:
    """edge/ has at most 7 loose modules, config/ and privacy/ are packages, and no module
    is over 400 lines."""
    edge = REPO_ROOT / "edge"
    loose = sorted(p.name for p in edge.glob("*.py"))
    assert len(loose) <= 7, loose
    assert (edge / "config" / "__init__.py").is_file()
    assert (edge / "privacy" / "__init__.py").is_file()
    long = {
        str(p.relative_to(REPO_ROOT)): n
        for p in edge.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
