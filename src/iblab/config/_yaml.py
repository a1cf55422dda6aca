"""Raw configs: strict YAML reading, flattening, dotted-key edits and overrides."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from iblab.config._fields import ConfigError


def read_yaml(path: str | Path, what: str, error: type[Exception]) -> Any:
    """The YAML document in a file, read strictly.

    Duplicate keys are errors, and 1e3 and 1.0e3 are numbers (as in YAML 1.2).

    Args:
        path: The file.
        what: What the file is, for the messages (e.g. "config").
        error: The exception type to raise.

    Returns:
        The document, plain data (see `check_plain`).

    Raises:
        error: One line naming `what` when the file is missing, empty, not UTF-8, not valid
            YAML (duplicate keys included), or holds what a config cannot (non-string keys,
            dates, recursive or runaway aliases).
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{what}: file does not exist: {str(path)!r}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(
            f"{what}: {str(path)!r} is not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        raise error(f"{what}: {str(path)!r} is not valid YAML: {_one_line(e)}") from None
    if raw is None:
        raise error(f"{what}: {str(path)!r} is empty")
    check_plain(raw, what, error)
    return raw


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and reads 1e3 and 1.0e3 as numbers (YAML 1.2;
    YAML 1.1 needs 1.0e+3)."""

    def construct_mapping(self, node, deep=False):
        self.flatten_mapping(node)
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, f"unhashable key {key!r}", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


MAX_VALUES = 1_000_000  # values a config or sweep file may expand to, aliases counted out


def check_plain(raw: Any, what: str, error: type[Exception]) -> None:
    """Check that a value is plain data: str keys; str, number, bool, None, lists and
    mappings, at most MAX_VALUES values once aliases are expanded, without cycles.

    Args:
        raw: The value.
        what: Its name, for the messages.
        error: The exception type to raise.

    Raises:
        error: raw is not plain data; the message names the offending part.
    """
    count = 0
    stack: list[tuple[Any, str, tuple[int, ...]]] = [(raw, what, ())]
    while stack:
        node, where, path = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise error(f"{what}: more than {MAX_VALUES} values (runaway YAML aliases?)")
        if isinstance(node, dict | list):
            if id(node) in path:
                raise error(f"{where}: refers to itself (a recursive YAML alias)")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                if isinstance(node, dict) and not isinstance(key, str):
                    raise error(
                        f"{where}: key {key!r} is a {type(key).__name__}, not a name; quote it"
                    )
                stack.append((value, f"{where}.{key}", path + (id(node),)))
        elif not (node is None or isinstance(node, str | int | float | bool)):
            raise error(f"{where}: {type(node).__name__} values are not allowed (got {node!r})")


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested mappings as one level of dotted keys: {'a': {'b': 1}} -> {'a.b': 1}.

    Args:
        d: The nested mapping.
        prefix: Prepended to every key.

    Returns:
        The flat dict; lists and tuples become strings ('[1, 2]').
    """
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= flatten(v, key + ".")
        else:
            out[key] = str(list(v)) if isinstance(v, list | tuple) else v
    return out


def set_key(raw: dict, key: str, value: Any, where: str, error: type[Exception]) -> None:
    """Set raw[a][b][c] = value for the key 'a.b.c', in place, creating sections.

    Args:
        raw: The nested mapping to edit.
        key: The dotted key path.
        value: The value to set.
        where: What to name in the messages (e.g. "--set train.lr").
        error: The exception type to raise.

    Raises:
        error: A part of the key is empty, or an existing part is not a section.
    """
    parts = key.strip().split(".")
    if not all(parts):
        raise error(f"{where}: {key!r} is not a key path like train.lr")
    node = raw
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise error(f"{where}: {p!r} is not a section")
    node[parts[-1]] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of raw with each `a.b.c=value` override applied, in order.

    Args:
        raw: The config as nested dicts; not modified.
        overrides: `key.path=value` strings; each value is parsed as YAML.

    Returns:
        The edited copy.

    Raises:
        ConfigError: An override has no '=', a bad key path, or a value that is not plain
            YAML.
    """
    out = json.loads(json.dumps(raw, default=str))
    for item in overrides:
        key, text = split_override(item)
        set_key(out, key, parse_value(key, text), f"--set {key}", ConfigError)
    return out


def split_override(item: str) -> tuple[str, str]:
    """Split an override at its first '=': 'a.b.c=value' -> ('a.b.c', 'value').

    Args:
        item: The override.

    Returns:
        (key, value text).

    Raises:
        ConfigError: item has no '='.
    """
    if "=" not in item:
        raise ConfigError(f"--set: expected key.path=value, got {item!r}")
    key, text = item.split("=", 1)
    return key, text


def parse_value(key: str, text: str) -> Any:
    """One override's value, parsed as YAML.

    Args:
        key: The override's key, for the messages.
        text: The value text.

    Returns:
        The parsed value, plain data.

    Raises:
        ConfigError: Naming `--set key` when text is not YAML or not plain data.
    """
    try:
        parsed = yaml.load(text, Loader=_Loader)  # noqa: S506
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: cannot parse {text!r}: {_one_line(e)}") from None
    check_plain(parsed, f"--set {key}", ConfigError)
    return parsed


_OPEN, _CLOSE = "[{", "]}"


def split_values(key: str, text: str) -> list[str]:
    """An override's value split at its top-level commas: '1e3,1e4' -> ['1e3', '1e4'].

    Commas inside brackets ('[1, 2]', '{a: 1, b: 2}') or a quoted string ("'a,b'", a quote
    that starts a value) do not split, so a list or a string with commas stays one value.

    Args:
        key: The override's key, for the messages.
        text: The value text.

    Returns:
        The pieces, unparsed (one piece when there is no top-level comma).

    Raises:
        ConfigError: Naming `--set key` when a piece is empty ('1,,2', '1,').
    """
    pieces, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and not (quote == '"' and text[i - 1] == "\\"):
                quote = ""
        elif ch in "'\"" and text[:i].rstrip()[-1:] in ("", "[", "{", ",", ":"):
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    if len(pieces) > 1 and not all(p.strip() for p in pieces):
        raise ConfigError(f"--set {key}: empty value in {text!r} (values are comma-separated)")
    return pieces
