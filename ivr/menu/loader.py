"""Load a menu file, naming the file, line and field of every problem."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ivr.menu.schema import NODE_TYPES, Menu, UnknownTargets


@dataclass(frozen=True)
class MenuProblem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class MenuError(ValueError):
    """A menu file is broken; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[MenuProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _line_of(root: yaml.Node | None, path: Iterable[str | int]) -> int:
    """1-based line of the YAML node at ``path`` (or of its deepest existing parent)."""
    node = root
    line = 1 if root is None else root.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    line = key_node.start_mark.line + 1
                    node = value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def parse_menu(text: str, filename: str = "<menu>") -> Menu:
    """Parse and validate menu YAML; raises MenuError naming line and field."""
    try:
        root, data = _parse_yaml(text, yaml.CSafeLoader)
    except yaml.YAMLError:
        root, data = _parse_yaml_or_fail(text, filename)
    return _validate(root, data, filename)


def _parse_yaml_or_fail(text: str, filename: str) -> tuple[yaml.Node | None, Any]:
    """A document libyaml refused, read again by the pure-Python parser, whose words about
    the problem the error gives."""
    try:
        return _parse_yaml(text, yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        # "problem" says what is wrong ("expected ',' or ']'"); the first line of str(exc)
        # is often only the context ("while parsing a flow sequence")
        message = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MenuError([MenuProblem(filename, line, "(syntax)", message)]) from exc


def _parse_yaml(text: str, loader_class: Any) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, from one parse: libyaml's
    loader (``CSafeLoader``) takes a tenth of the pure-Python one's time, which the syntax
    errors' messages come from."""
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def _validate(root: yaml.Node | None, data: Any, filename: str) -> Menu:
    if not isinstance(data, dict):
        raise MenuError([MenuProblem(filename, 1, "(document)",
                                     "a menu is a mapping with version, start and nodes")])
    try:
        return Menu.model_validate(data)
    except ValidationError as exc:
        problems: list[MenuProblem] = []
        for error in exc.errors():
            loc = list(error["loc"])
            if len(loc) >= 3 and loc[0] == "nodes" and loc[2] in _NODE_TAGS:
                del loc[2]  # the discriminator tag pydantic inserts for a tagged union
            if loc and loc[-1] == "[key]":
                del loc[-1]  # pydantic's marker for a bad dict key: name the key itself
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc.append("type")  # the node's type is what is wrong (or missing)
            cause = error.get("ctx", {}).get("error")
            if isinstance(cause, UnknownTargets):
                # cross-reference errors carry their own field paths
                for path, message in cause.problems:
                    problems.append(MenuProblem(filename, _line_of(root, path), ".".join(path),
                                                message))
                continue
            field_path = ".".join(str(p) for p in loc) or "(document)"
            problems.append(MenuProblem(filename, _line_of(root, loc), field_path, error["msg"]))
        raise MenuError(problems) from exc


_NODE_TAGS = set(NODE_TYPES)


def load_menu(path: Path) -> Menu:
    return parse_menu(path.read_text(encoding="utf-8"), str(path))
