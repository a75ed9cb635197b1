"""A YAML loader for configurations that refuses what would silently change or explode a value.

yaml.safe_load keeps the last of two equal keys (a section given twice loses the first one) and
expands aliases (a few hundred bytes of nested aliases become gigabytes: "billion laughs"). This
loader refuses both, plus merge keys (`<<`), and is otherwise yaml.safe_load.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import ConfigError


class StrictYAMLError(yaml.MarkedYAMLError):
    """Valid YAML that a configuration may not use; `fix` says what to write instead."""

    def __init__(self, problem: str, mark, fix: str):
        super().__init__(problem=problem, problem_mark=mark)
        self.fix = fix


def _at(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


class StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise StrictYAMLError(
                f"anchors and aliases (&{event.anchor}, *{event.anchor}) are not allowed in a configuration "
                f"({_at(event.start_mark)})", event.start_mark, "write each value out in full")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise StrictYAMLError(
                    f"merge keys (<<) are not allowed in a configuration ({_at(key_node.start_mark)})",
                    key_node.start_mark, "write the keys out in full")
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeConstructor reports it below
                continue
            if first is not None:
                raise StrictYAMLError(
                    f"the key {key!r} is given twice ({_at(first)} and {_at(key_node.start_mark)}); YAML would "
                    "silently keep only the last one", key_node.start_mark,
                    "give each key once (merge the two entries or sections into one)")
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_strict(text: str) -> Any:
    """Parse one YAML document like yaml.safe_load, refusing duplicate keys, anchors/aliases and merge
    keys (StrictYAMLError) and nesting deep enough to exhaust the stack (yaml.YAMLError)."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise yaml.YAMLError("the document is nested too deeply") from None
    finally:
        loader.dispose()


def parse_or_refuse(text: str, field_name: str, what: str, syntax_fix: str) -> Any:
    """load_strict, with every failure a ConfigError naming `field_name` and `what` was parsed."""
    try:
        return load_strict(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, StrictYAMLError):
            raise ConfigError(field_name, f"{what}: {problem}", exc.fix) from None
        mark = getattr(exc, "problem_mark", None)
        where = f" at {_at(mark)}" if mark is not None else ""
        raise ConfigError(field_name, f"{what} is not valid YAML ({problem}{where})", syntax_fix) from exc
