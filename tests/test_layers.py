"""The package's layers: every import (those inside functions too) points down, and no module imports itself
back through a cycle."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "vaekit"

# Lower layers first. A module may import modules of lower layers, and modules of its own layer only inside
# its own package (the top-level modules of a layer count as one package).
LAYERS = [
    {"errors", "_io", "losses", "switches", "plots"},  # foundation
    {"config"},  # the settings of every model kind and of a run, declared once (no PyTorch)
    {"arch"},  # architectures as layer plans, read from a model config (no PyTorch)
    {"data", "quantizers"},
    {"models"},
    {"evaluation", "runs"},
    {"training"},
    {"analysis", "export", "measure"},
    {"cli", "__main__", "__init__"},
]


def _modules() -> dict[str, Path]:
    mods = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The vaekit modules ``name`` imports anywhere in its body."""
    is_pkg = path.name == "__init__.py"
    package = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
            if not target or not target.startswith("vaekit"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in mods else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("vaekit"))
    return {m for m in found if m in mods and m != name}


def _unit(module: str) -> str:
    """The layer unit of a module: its package under vaekit, or its own name at the top level."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _rank(module: str) -> int:
    unit = _unit(module)
    for rank, layer in enumerate(LAYERS):
        if unit in layer:
            return rank
    raise AssertionError(f"{module} belongs to no layer; add its package to LAYERS")


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, mods) for name, path in mods.items()}


def test_every_module_belongs_to_a_layer():
    for module in _modules():
        _rank(module)


def test_imports_point_down():
    upward = []
    for module, deps in _graph().items():
        for dep in deps:
            if module == "vaekit" or dep == "vaekit":
                continue  # the package root re-exports lazily
            r, d = _rank(module), _rank(dep)
            same_package = _unit(module) == _unit(dep)
            both_top_level = module.count(".") == dep.count(".") == 1  # e.g. config -> errors, __main__ -> cli
            if d > r or (d == r and not same_package and not both_top_level):
                upward.append(f"{module} -> {dep}")
    assert not upward, "imports that do not point down:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    graph = _graph()
    graph.pop("vaekit", None)
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep == "vaekit":
                continue
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep) :] + [dep]))
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("bad", ["from ..training.loop import train", "from vaekit.cli import main"])
def test_the_checker_sees_an_upward_import(tmp_path, bad):
    """The walk above would catch an upward import inside a function (the way the old cycles hid)."""
    mods = {"vaekit.models.gaussian": tmp_path / "g.py", "vaekit.training.loop": None, "vaekit.cli": None}
    (tmp_path / "g.py").write_text(f"def f():\n    {bad}\n")
    deps = _imports("vaekit.models.gaussian", tmp_path / "g.py", mods)
    assert deps and all(_rank(d) > _rank("vaekit.models.gaussian") for d in deps)
