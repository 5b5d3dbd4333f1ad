"""The package's shape: no import cycles, dependencies one way, small modules, a working `python -m`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "emoannotate"
MAX_MODULE_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module of the package -> the package modules it imports (anywhere but under TYPE_CHECKING)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = {id(n) for node in ast.walk(tree)
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                candidates = [f"{base}.{a.name}" for a in node.names] + [base]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            found |= {c for c in candidates if c in modules and c != name}
        graph[name] = found
    return graph


def _lazy_targets() -> set[str]:
    """Modules that `emoannotate/__init__.py` exposes lazily (imported on attribute access)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    lazy = next(n for n in ast.walk(tree) if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "_LAZY")
    return {f"emoannotate.{v.value}" for v in lazy.value.values}  # type: ignore[attr-defined]


def test_no_import_cycles():
    graph = _imports()
    # A submodule importing its package's __init__ is how Python works, not a cycle of ours.
    graph = {m: {d for d in deps if d != "emoannotate"} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert len(graph) > 30  # the walk saw the whole package


def test_dependencies_point_one_way():
    graph = _imports()
    importers = lambda target: sorted(m for m, deps in graph.items() if target in deps)  # noqa: E731
    assert importers("emoannotate.cli") == ["emoannotate.__main__"]
    assert set(importers("emoannotate.console")) <= {"emoannotate.cli", "emoannotate.api"}
    assert "emoannotate.training.fit" not in graph["emoannotate.training.evaluate"]
    leaves = ("emoannotate.constants", "emoannotate.errors", "emoannotate.records", "emoannotate.media",
              "emoannotate.faces", "emoannotate.audio", "emoannotate.windows")
    upper = {"emoannotate.pipeline", "emoannotate.api", "emoannotate.cli", "emoannotate.executor",
             "emoannotate.extract", "emoannotate.outputs", "emoannotate.training.commands"}
    for leaf in leaves:
        assert not graph[leaf] & upper, (leaf, graph[leaf] & upper)
    # extraction is the only way from media to the model's inputs: pipeline and training both go through it
    assert "emoannotate.extract" in graph["emoannotate.executor"]
    assert "emoannotate.extract" in graph["emoannotate.training.cache"]
    for m in ("emoannotate.pipeline", "emoannotate.training.cache"):
        assert not graph[m] & {"emoannotate.faces", "emoannotate.audio"}, m
    assert _lazy_targets() <= set(graph)


def test_only_the_console_uses_rich():
    users = sorted(_module_name(p) for p in PACKAGE.rglob("*.py") if "rich" in {
        (n.module or "").split(".")[0] if isinstance(n, ast.ImportFrom) else a.name.split(".")[0]
        for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in (n.names if isinstance(n, ast.Import) else [n])})
    assert users == ["emoannotate.cli", "emoannotate.console"]


def test_no_module_is_too_long():
    sizes = {_module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    long = {m: n for m, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not long, long


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "emoannotate", "--help"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("Usage: emoannotate") and "run" in out.stdout


def test_nothing_shipped_holds_a_machine_path():
    import json

    from safetensors import safe_open

    index = (PACKAGE / "weights" / "models.json").read_text()
    assert "/work/" not in index and "/home/" not in index and "/root/" not in index
    for f in (PACKAGE / "weights").glob("*.safetensors"):
        with safe_open(str(f), framework="pt") as st:
            meta = json.dumps(st.metadata())
        assert "/work/" not in meta and "/home/" not in meta and "/root/" not in meta, f.name
