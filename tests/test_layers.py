"""The layers import one way: models -> flows -> hw -> sim -> reports -> apps, and no module cycle exists.

Every ``import`` counts, also one inside a function: a deferred import hides a
dependency from the reader, it does not remove it.
"""
import ast
from pathlib import Path

LAYERS = ("models", "flows", "hw", "sim", "reports", "apps")
ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("fqsr",) + (parts[:-1] if parts[-1] == "__init__" else parts))


def imports_of(path: Path) -> set[str]:
    """The fqsr modules ``path`` imports (relative imports resolved; ``from pkg import mod`` counts as pkg.mod)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.startswith("fqsr.")}


def graph() -> dict[str, set[str]]:
    files = [p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")]
    modules = {module_name(p): p for p in files}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def layer_of(module: str) -> int:
    return LAYERS.index(module.split(".")[1])


def test_no_module_imports_a_layer_above_its_own():
    backward = sorted(f"{m} -> {t}" for m, targets in graph().items() for t in targets if layer_of(t) > layer_of(m))
    assert not backward, "imports that run against the layer order:\n" + "\n".join(backward)


def test_no_import_cycle():
    edges = graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_a_function_local_backward_import(tmp_path, monkeypatch):
    """The walk finds imports inside functions and resolves relative ones (so the tests above can fail)."""
    source = ROOT / "hw" / "_probe_layers.py"
    source.write_text("def f():\n    from fqsr.sim.verify import verify\n    from ..sim import axis\n")
    try:
        assert imports_of(source) >= {"fqsr.sim.verify", "fqsr.sim.axis"}
        assert layer_of("fqsr.sim.verify") > layer_of(module_name(source))
    finally:
        source.unlink()
