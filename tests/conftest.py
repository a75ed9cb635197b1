import os
from pathlib import Path

import pytest

import lash  # noqa: F401  (first: it pins the CPU libraries' code paths before any test imports torch)

REPO = Path(__file__).resolve().parents[1]
# The corpus lives beside the checkout (../shared), never inside it; LASH_DATA_DIR overrides.
WIKITEXT_DIR = Path(os.environ.get("LASH_DATA_DIR") or REPO.parent / "shared" / "data" / "wikitext-2")


@pytest.fixture
def wikitext_dir() -> Path:
    if not (WIKITEXT_DIR / "train.txt").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the WikiText-2 copy at {WIKITEXT_DIR} (set LASH_DATA_DIR)")
        pytest.skip(f"no local WikiText-2 at {WIKITEXT_DIR}; set LASH_DATA_DIR to run this test")
    return WIKITEXT_DIR
