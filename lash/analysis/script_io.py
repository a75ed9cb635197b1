"""Glue for the workflow scripts: Snakemake's inputs, outputs and params as plain dicts (so a script's
`main` runs under Snakemake and in a test alike), YAML inputs, and a clean exit on an expected error.
Standard library and PyYAML only: the figure scripts import it, and their rules list its code."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import yaml


def load_yaml(path) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def snakemake_io(smk, config_params: dict | None = None) -> tuple[dict, dict, dict]:
    """(inputs, outputs, params) of a Snakemake `script:` job as plain dicts: named entries by name
    (a named list input stays a list), positional ones under '_'; `config_params` maps a param
    name to its default from the workflow config, used when the rule sets no such param. The
    job's log file receives the script's logging."""
    def named(nl):
        d = {k: (list(v) if not isinstance(v, str) else v) for k, v in nl.items()}
        if not d:
            d["_"] = list(nl)
        return d

    params = {**(config_params or {}), **dict(smk.params.items())}
    if smk.log:
        logging.basicConfig(filename=str(smk.log[0]), level=logging.INFO, force=True,
                            format="%(asctime)s %(name)s %(message)s")
    return named(smk.input), named(smk.output), params


def fail(error: Exception, status: int = 2):
    """End a script on an expected error (a lash.errors.LashError): its message, which names the
    problem and the fix, on stderr and in the job's log, and exit `status`; no traceback."""
    logging.error("%s", error)
    print(f"error: {error}", file=sys.stderr)
    sys.exit(status)
