"""The environment a test or tool gives the workflow it starts: this interpreter's bin first on PATH."""

import os
import sys
from pathlib import Path

from lash.workflow_env import with_this_interpreter

BIN = str(Path(sys.executable).parent)


def test_this_interpreter_comes_first_and_the_rest_is_kept_unchanged():
    given = {"PATH": f"/a{os.pathsep}/b", "X": "1"}
    assert with_this_interpreter(given) == {"PATH": f"{BIN}{os.pathsep}/a{os.pathsep}/b", "X": "1"}
    assert given == {"PATH": f"/a{os.pathsep}/b", "X": "1"}  # a copy: the caller's dict is not changed


def test_without_a_path_the_interpreter_is_the_whole_path():
    assert with_this_interpreter({}) == {"PATH": BIN}
    assert with_this_interpreter({"PATH": ""}) == {"PATH": BIN}


def test_the_default_is_this_process_environment(monkeypatch):
    monkeypatch.setenv("PATH", "/only")
    monkeypatch.setenv("LASH_MARKER", "kept")
    env = with_this_interpreter()
    assert env["PATH"] == f"{BIN}{os.pathsep}/only" and env["LASH_MARKER"] == "kept"
    assert os.environ["PATH"] == "/only"
