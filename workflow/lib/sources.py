"""The source files a workflow rule depends on: the import closure of the modules it runs.

Snakemake does not see the code a rule imports, so the workflow names it as the rule's input. The
closure is read from the code (Python's own parser, no import is executed), so a module that
lash/train.py starts to import becomes an input of the training rules without anyone editing a
list. Imports inside functions count, and so do the packages' __init__.py files, which every
import of a submodule executes.
"""

from __future__ import annotations

import ast
from pathlib import Path


def module_file(root: Path, name: str) -> Path | None:
    """`lash.a.b` -> root/lash/a/b.py or root/lash/a/b/__init__.py; None if neither exists."""
    base = Path(root).joinpath(*name.split("."))
    for path in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def package_modules(root: Path, name: str) -> list[str]:
    """Every module of package `name` (subpackages included), or [name] for a plain module."""
    path = module_file(root, name)
    if path is None:
        raise FileNotFoundError(f"no module or package {name} under {root}")
    if path.name != "__init__.py":
        return [name]
    package_dir = path.parent
    return sorted(
        ".".join((name, *file.relative_to(package_dir).with_suffix("").parts)).removesuffix(".__init__")
        for file in package_dir.rglob("*.py")
    )


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names a module's imports may refer to, wherever the import statement stands.

    `from .x import y` yields `pkg.x` and `pkg.x.y` (y may be a submodule or a name in x); callers keep
    the names that are files.
    """
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _with_parents(name: str) -> list[str]:
    """`a.b.c` -> [a, a.b, a.b.c]: importing a submodule runs its packages' __init__ first."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def import_closure(root: Path, entries: list[str]) -> list[str]:
    """Files (relative to root, sorted) of the entry modules and of everything they import from the
    entries' own top-level packages, transitively."""
    root = Path(root)
    packages = {entry.split(".")[0] for entry in entries}
    for entry in entries:
        if module_file(root, entry) is None:
            raise FileNotFoundError(f"entry module {entry} not found under {root}")
    found: dict[str, Path] = {}
    todo = list(entries)
    while todo:
        for name in _with_parents(todo.pop()):
            if name in found or name.split(".")[0] not in packages:
                continue
            path = module_file(root, name)
            if path is None:  # a name defined inside a module, not a module of its own
                continue
            found[name] = path
            todo.extend(imported_names(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"))
    return sorted(path.relative_to(root).as_posix() for path in found.values())


def sources(root: Path, *packages_or_modules: str) -> list[str]:
    """The closure of every module of the given packages (or of the given plain modules)."""
    entries = [module for name in packages_or_modules for module in package_modules(root, name)]
    return import_closure(root, entries)
