"""The analysis is torch-free: every module of lash.analysis, and every workflow script, imports in a
process where torch cannot be imported at all."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# torch is refused by a finder that runs before any other. (Not `sys.modules["torch"] = None`: scipy
# looks `torch` up in sys.modules to recognise tensors and fails on a None entry.)
PROGRAM = r"""
import importlib, importlib.abc, importlib.util, pkgutil, sys
from pathlib import Path

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch is not importable here ({name})")
        return None

sys.meta_path.insert(0, NoTorch())
try:
    import torch  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("the torch block does not work")

import lash.analysis
modules = [f"lash.analysis.{m.name}" for m in pkgutil.iter_modules(lash.analysis.__path__)]
for name in modules:
    importlib.import_module(name)
scripts = sorted(Path("workflow/scripts").glob("*.py"))
for path in scripts:  # without Snakemake's `snakemake` object a script only defines its functions
    spec = importlib.util.spec_from_file_location(path.stem, path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
assert not [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
print(len(modules), len(scripts))
"""


def test_every_analysis_module_and_script_imports_without_torch():
    proc = subprocess.run([sys.executable, "-c", PROGRAM], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    n_modules, n_scripts = map(int, proc.stdout.split())
    assert n_modules >= 10 and n_scripts >= 12  # the package and the scripts were really walked
