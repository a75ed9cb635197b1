"""workflow/lib/sources.py: the rules' source inputs are the import closure of the modules they run."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "lib"))
from sources import import_closure, imported_names, package_modules, sources  # noqa: E402


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def tree(tmp_path):
    """A small package: run -> train (-> helper only inside a function), sub.deep via `from . import`."""
    _write(tmp_path, {
        "pkg/__init__.py": '"""pkg."""\n',
        "pkg/run.py": "import os\nfrom .train import fit\nimport pkg.sub.deep\n",
        "pkg/train.py": "import torch\n\ndef fit():\n    from .helper import assist\n    return assist()\n",
        "pkg/helper.py": "from . import errors\n",
        "pkg/errors.py": "",
        "pkg/sub/__init__.py": "from . import deep\n",
        "pkg/sub/deep.py": "from .. import errors\n",
        "pkg/unused.py": "",
        "pkg/analysis/__init__.py": "",
        "pkg/analysis/stats.py": "from ..errors import E\n",
        "pkg/analysis/tables.py": "from .stats import x\n",
        "other/mod.py": "",
    })
    return tmp_path


def test_closure_follows_relative_absolute_and_function_level_imports(tree):
    assert import_closure(tree, ["pkg.run"]) == [
        "pkg/__init__.py", "pkg/errors.py", "pkg/helper.py", "pkg/run.py", "pkg/sub/__init__.py",
        "pkg/sub/deep.py", "pkg/train.py",
    ]


def test_a_module_imported_only_inside_a_function_is_found(tree):
    assert "pkg/helper.py" in import_closure(tree, ["pkg.run"])  # only the body of `fit` imports it
    (tree / "pkg/train.py").write_text("import torch\n\ndef fit():\n    return 1\n")
    assert "pkg/helper.py" not in import_closure(tree, ["pkg.run"])


def test_a_new_module_imported_by_train_appears(tree):
    before = import_closure(tree, ["pkg.run"])
    (tree / "pkg/kernels.py").write_text("")
    assert import_closure(tree, ["pkg.run"]) == before  # not imported yet: not an input
    (tree / "pkg/train.py").write_text("from .kernels import fast\n\ndef fit():\n    pass\n")
    after = import_closure(tree, ["pkg.run"])
    assert "pkg/kernels.py" in after and "pkg/helper.py" not in after


def test_package_entries_cover_every_module_of_the_package(tree):
    assert package_modules(tree, "pkg.analysis") == ["pkg.analysis", "pkg.analysis.stats", "pkg.analysis.tables"]
    assert sources(tree, "pkg.analysis") == [
        "pkg/__init__.py", "pkg/analysis/__init__.py", "pkg/analysis/stats.py", "pkg/analysis/tables.py",
        "pkg/errors.py",
    ]
    assert package_modules(tree, "pkg.train") == ["pkg.train"]


def test_a_missing_entry_is_an_error_not_an_empty_list(tree):
    with pytest.raises(FileNotFoundError, match="pkg.gone"):
        import_closure(tree, ["pkg.gone"])
    with pytest.raises(FileNotFoundError, match="pkg.gone"):
        sources(tree, "pkg.gone")


def test_imported_names_resolve_relative_levels():
    names = imported_names("from ..errors import E\nfrom . import x\nimport a.b\n", "pkg.sub.mod", False)
    assert names == {"pkg.errors", "pkg.errors.E", "pkg.sub", "pkg.sub.x", "a.b"}
    # in a package's __init__, `.` is the package itself
    assert imported_names("from .stats import s\n", "pkg.analysis", True) == {"pkg.analysis.stats",
                                                                             "pkg.analysis.stats.s"}


def test_the_real_training_sources_are_the_training_code_only():
    train = sources(REPO, "lash.run")
    for needed in ("lash/train.py", "lash/model.py", "lash/fused.py", "lash/data.py", "lash/run.py"):
        assert needed in train, needed
    assert not [f for f in train if f.startswith(("lash/cli", "lash/analysis", "lash/bench"))], train
    bench = sources(REPO, "lash.bench")  # the fast-path benchmark's rule: the step it times, not the CLI
    assert {"lash/bench.py", "lash/train.py", "lash/model.py"} <= set(bench)
    assert not [f for f in bench if f.startswith(("lash/cli", "lash/analysis", "lash/ashem", "lash/data"))], bench
