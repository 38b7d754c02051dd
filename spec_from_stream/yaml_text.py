"""Block-style YAML text for JSON data, written directly.

The reader writes the document every second while a topic streams in, and
PyYAML's representer spends about 100 ms on a 100 kB document; this writer
takes about a twentieth of that. ``yaml.safe_load`` reads the output back as
the same data. A string is left plain only when PyYAML's own resolver reads
it back as that string and no YAML 1.2 reader could take it for a number;
otherwise it is double-quoted (JSON escapes, which YAML shares) when it holds
a control character, and single-quoted when not.

Usage::

    text = to_yaml_text({"openapi": "3.1.0", "paths": {}})
"""

from __future__ import annotations

import math
import re

import orjson
from yaml import ScalarNode
from yaml.resolver import Resolver

_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = Resolver()
# characters a plain scalar may hold here (": " and " #" are refused below)
_PLAIN = re.compile(r"[A-Za-z0-9_/.$(][A-Za-z0-9 _./{}()$+,;=*'#:-]*")
# what JSON leaves raw but a YAML reader would refuse or fold: C1 controls
# (NEL among them), the Unicode line separators, BOM and non-characters
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
# strings with none of these are single-quoted when they cannot be plain
_NEEDS_ESCAPES = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
# anything a YAML 1.2 reader (most OpenAPI tools) might take for a number,
# underscores and all, though PyYAML's YAML 1.1 resolver reads it as a string:
# quoted, so every reader agrees; a version such as 3.1.0 is no number to any
_NUMBER_LIKE = re.compile(r"[0-9._][0-9a-fA-FoxX._+-]*")
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+){2,}")
# YAML limits a simple key to 1024 characters; longer ones use "? key"
MAX_SIMPLE_KEY = 1000
# strings decided plain or quoted; a document repeats most of its strings
_CACHE_SIZE = 65_536
_quoted: dict[str, str] = {}


def to_yaml_text(data: object) -> str:
    """Return data (dicts, lists, strings, numbers, booleans, None) as YAML."""
    lines: list[str] = []
    if isinstance(data, dict) and data:
        _mapping(data, "", lines)
    elif isinstance(data, (list, tuple)) and data:
        _sequence(data, "", lines)
    else:
        lines.append(_scalar(data))
    lines.append("")
    return "\n".join(lines)


def _mapping(data: dict, indent: str, lines: list[str]) -> None:
    """Append a non-empty mapping's lines at one indentation."""
    for key, value in data.items():
        text = _scalar(key)
        explicit = len(text) > MAX_SIMPLE_KEY
        if explicit:
            lines.append(f"{indent}? {text}")
            text = ""
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{text}:")
            _mapping(value, indent + "  ", lines)
        elif isinstance(value, (list, tuple)) and value:
            lines.append(f"{indent}{text}:")
            # a sequence in a mapping starts at the key's column, as PyYAML does
            _sequence(value, indent + "  " if explicit else indent, lines)
        else:
            lines.append(f"{indent}{text}: {_scalar(value)}")


def _sequence(data: list | tuple, indent: str, lines: list[str]) -> None:
    """Append a non-empty sequence's lines at one indentation."""
    inner = indent + "  "
    for item in data:
        if isinstance(item, dict) and item:
            start = len(lines)
            _mapping(item, inner, lines)
            # the first key goes on the dash's line
            lines[start] = f"{indent}- {lines[start][len(inner) :]}"
        elif isinstance(item, (list, tuple)) and item:
            lines.append(f"{indent}-")
            _sequence(item, inner, lines)
        else:
            lines.append(f"{indent}- {_scalar(item)}")


def _scalar(value: object) -> str:
    """Return one scalar (or an empty container) as inline YAML."""
    if value.__class__ is str:
        text = _quoted.get(value)
        if text is None:
            text = _string(value)
            if len(_quoted) >= _CACHE_SIZE:
                _quoted.clear()
            _quoted[value] = text
        return text
    if isinstance(value, str):
        return _string(str(value))
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _string(value: str) -> str:
    """Return a string plain when it reads back as itself, else quoted."""
    if (
        _PLAIN.fullmatch(value)
        and not value.endswith((" ", ":"))
        and not value.startswith("...")
        and ": " not in value
        and " #" not in value
        and (not _NUMBER_LIKE.fullmatch(value) or _VERSION.fullmatch(value))
        and _RESOLVER.resolve(ScalarNode, value, (True, False)) == _STR_TAG
    ):
        return value
    if not _NEEDS_ESCAPES.search(value):
        return "'" + value.replace("'", "''") + "'"
    quoted = orjson.dumps(value).decode("utf-8")
    return _YAML_UNSAFE.sub(_escape, quoted)


def _escape(match: re.Match) -> str:
    """Return a character as a YAML double-quoted escape."""
    return f"\\u{ord(match.group()):04x}"


def _float(value: float) -> str:
    """Return a float the way YAML 1.1 reads back as that float (JSON has no NaN)."""
    if not math.isfinite(value):
        # the JSON document beside it says null, as JSON must
        return "null"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if e and exponent[0] not in "+-":
        exponent = "+" + exponent
    return mantissa + (f"e{exponent}" if e else "")
