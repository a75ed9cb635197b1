"""`python -m lash.cli ...` (what torchrun runs: `torchrun ... -m lash.cli train ...`)."""

import sys

from .main import main

sys.exit(main())
