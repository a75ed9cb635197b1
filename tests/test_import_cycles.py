"""No import cycle anywhere in lash: the graph of which module imports which, read from the code
(imports inside functions included), has no cycle."""

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "lib"))
from sources import module_file, package_modules  # noqa: E402  (the workflow's module finder)


def imports_of(root: Path, module: str) -> set[str]:
    """The modules `module` imports: `from .x import y` imports x.y if that is a module, else x (y is a
    name defined in x); `from . import y` imports the submodule y, not its own package's __init__."""
    path = module_file(root, module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")[: len(package.split(".")) - max(0, node.level - 1)] if node.level else []
            base = ".".join([*parts, node.module] if node.module else parts) if node.level else node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if module_file(root, sub) is not None else base)
    return {name for name in out if module_file(root, name) is not None and name != module}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """module -> the modules of `package` it imports."""
    return {m: {n for n in imports_of(root, m) if n.split(".")[0] == package}
            for m in package_modules(root, package)}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_function_level_cycle(tmp_path):
    pkg = tmp_path / "pk"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import f\n")
    (pkg / "b.py").write_text("def f():\n    from . import a  # hidden inside a function\n")
    (pkg / "c.py").write_text("import pk.a\n")
    assert find_cycle(import_graph(tmp_path, "pk")) in (["pk.a", "pk.b", "pk.a"], ["pk.b", "pk.a", "pk.b"])
    (pkg / "b.py").write_text("def f():\n    pass\n")
    assert find_cycle(import_graph(tmp_path, "pk")) is None


def test_lash_has_no_import_cycle():
    graph = import_graph(REPO, "lash")
    assert len(graph) > 30  # every module of every subpackage was read
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"
