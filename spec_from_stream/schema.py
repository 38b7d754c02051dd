"""Schema summaries: counters per JSON location that render as JSON Schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spec_from_stream.formats import (
    NO_FORMATS,
    ONE_FORMAT_CHECKS,
    segment_kind,
    still_matching,
    string_formats,
)
from spec_from_stream.names import looks_like_value
from spec_from_stream.security import is_secret_name, is_secret_value

if TYPE_CHECKING:
    from spec_from_stream.evidence import RequestEvidence

# Python types of JSON scalars -> their JSON type names
_SCALARS: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}
# JSON type names as OpenAPI writes them, in the order they are rendered
TYPE_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")
# keys that are ids (numbers, uuids, hashes) make an object a map only with this
# many distinct keys, so that a two-field object keyed "1" and "2" stays rare
MIN_MAP_KEYS = 2
# an object with this many keys, each present on average in less than this
# share of the samples, is keyed by data (a map) when its values look alike
VARYING_MAP_KEYS = 20
VARYING_MAP_PRESENCE = 0.2
# a map of counts over a small set of names (languages, country codes): this
# many keys over this many samples, none of them in every sample, each in
# less than this share of them on average, all holding numbers
SPARSE_MAP_KEYS = 5
SPARSE_MAP_SAMPLES = 10
SPARSE_MAP_PRESENCE = 0.5
# the longest property or parameter name kept: longer ones (which no API
# defines, but hostile bodies may carry by the thousand) are summed up with
# the properties over the cap, so the state cannot grow with name lengths
MAX_NAME_LENGTH = 256
# a field only ever null or empty over this many samples is not rendered required
MIN_EMPTY_SAMPLES = 10


class SchemaCaps:
    """Bounds for one summary tree: nesting depth and properties per object."""

    __slots__ = ("max_depth", "max_properties", "examples", "hits")

    def __init__(self, max_depth: int, max_properties: int, examples: bool) -> None:
        self.max_depth = max_depth
        self.max_properties = max_properties
        self.examples = examples
        # how often each cap cut something off, for the builder's warnings
        self.hits = {
            "schema_depth": 0,
            "properties": 0,
            "name_length": 0,
            "query_params": 0,
            "media_types": 0,
            "security_schemes": 0,
        }


class SchemaSummary:
    """What the samples at one JSON location looked like, as counters.

    ``required`` is derived as "present in every sample", nullable as "a null
    was seen", and a string format is kept only while every string matched it.
    """

    __slots__ = (
        "n",
        "types",
        "formats",
        "props",
        "items",
        "extra",
        "example",
    )

    def __init__(self) -> None:
        self.n = 0
        self.types: dict[str, int] = {}
        self.formats: frozenset[str] | None = None
        # a property's own sample count ``n`` is how often it was present
        self.props: dict[str, SchemaSummary] = {}
        self.items: SchemaSummary | None = None
        # values of keys past the properties cap, merged like a map's values
        self.extra: SchemaSummary | None = None
        self.example: object = None

    def add(
        self, value: object, caps: SchemaCaps, weight: int = 1, depth: int = 0
    ) -> None:
        """Count one sample value (``weight`` identical samples at once)."""
        self.n += weight
        kind = type(value)
        types = self.types
        if kind is dict:
            types["object"] = types.get("object", 0) + weight
            if depth >= caps.max_depth:
                if value:
                    caps.hits["schema_depth"] += 1
                return
            props = self.props
            examples = caps.examples
            one_format = ONE_FORMAT_CHECKS
            for key, item in value.items():
                child = props.get(key)
                if child is None:
                    too_long = len(key) > MAX_NAME_LENGTH
                    if too_long or len(props) >= caps.max_properties:
                        caps.hits["name_length" if too_long else "properties"] += 1
                        if self.extra is None:
                            self.extra = SchemaSummary()
                        self.extra.add(item, caps, weight, depth + 1)
                        continue
                    child = props[key] = SchemaSummary()
                # most fields hold scalars: counted in place, they save a call
                # per field (the same steps as for a scalar below)
                name = _SCALARS.get(type(item))
                if name is None:
                    child.add(item, caps, weight, depth + 1)
                    continue
                child.n += weight
                child_types = child.types
                if name in child_types:
                    child_types[name] += weight
                else:
                    child_types[name] = weight
                if name == "string":
                    formats = child.formats
                    if formats is None:
                        child.formats = string_formats(item)
                    elif formats:
                        # one format left, the usual case: checked in place
                        check = one_format.get(formats)
                        if check is None:
                            child.formats = still_matching(item, formats)
                        elif check(item) is None:
                            child.formats = NO_FORMATS
                if examples and child.example is None:
                    child.example = item
        elif kind is list:
            types["array"] = types.get("array", 0) + weight
            if depth >= caps.max_depth:
                if value:
                    caps.hits["schema_depth"] += 1
                return
            if value:
                items = self.items
                if items is None:
                    items = self.items = SchemaSummary()
                examples = caps.examples
                item_types = items.types
                for item in value:
                    # scalars counted in place, as for the fields of an object
                    name = _SCALARS.get(type(item))
                    if name is None or name == "string":
                        items.add(item, caps, weight, depth + 1)
                        continue
                    items.n += weight
                    if name in item_types:
                        item_types[name] += weight
                    else:
                        item_types[name] = weight
                    if examples and items.example is None:
                        items.example = item
        elif kind is str:
            types["string"] = types.get("string", 0) + weight
            formats = self.formats
            if formats is None:
                self.formats = string_formats(value)
            elif formats:
                self.formats = still_matching(value, formats)
            if caps.examples and self.example is None:
                self.example = value
        elif kind is bool:
            types["boolean"] = types.get("boolean", 0) + weight
            if caps.examples and self.example is None:
                self.example = value
        elif kind is int:
            types["integer"] = types.get("integer", 0) + weight
            if caps.examples and self.example is None:
                self.example = value
        elif kind is float:
            # 3.0 in JSON is a number that happens to be whole; keep it a number
            types["number"] = types.get("number", 0) + weight
            if caps.examples and self.example is None:
                self.example = value
        elif value is None:
            types["null"] = types.get("null", 0) + weight

    def merge(self, other: SchemaSummary) -> None:
        """Add another summary's counts to this one (other is left unchanged)."""
        self.n += other.n
        for name, count in other.types.items():
            self.types[name] = self.types.get(name, 0) + count
        if other.formats is not None:
            if self.formats is None:
                self.formats = other.formats
            else:
                self.formats = self.formats & other.formats
        for key, child in other.props.items():
            mine = self.props.get(key)
            if mine is None:
                mine = self.props[key] = SchemaSummary()
            mine.merge(child)
        if other.items is not None:
            if self.items is None:
                self.items = SchemaSummary()
            self.items.merge(other.items)
        if other.extra is not None:
            if self.extra is None:
                self.extra = SchemaSummary()
            self.extra.merge(other.extra)
        if self.example is None:
            self.example = other.example

    def copy(self) -> SchemaSummary:
        """Return an independent deep copy."""
        clone = SchemaSummary()
        clone.merge(self)
        return clone

    def to_state(self) -> dict:
        """Return the counters as plain JSON data."""
        state: dict = {"n": self.n, "t": self.types}
        if self.formats is not None:
            state["f"] = sorted(self.formats)
        if self.props:
            state["p"] = {key: child.to_state() for key, child in self.props.items()}
        if self.items is not None:
            state["i"] = self.items.to_state()
        if self.extra is not None:
            state["x"] = self.extra.to_state()
        if self.example is not None:
            state["e"] = self.example
        return state

    @classmethod
    def from_state(cls, state: dict) -> SchemaSummary:
        """Rebuild a summary from to_state() output."""
        summary = cls()
        summary.n = state["n"]
        summary.types = dict(state["t"])
        if "f" in state:
            summary.formats = frozenset(state["f"]) if state["f"] else NO_FORMATS
        for key, child in state.get("p", {}).items():
            summary.props[key] = cls.from_state(child)
        if "i" in state:
            summary.items = cls.from_state(state["i"])
        if "x" in state:
            summary.extra = cls.from_state(state["x"])
        summary.example = state.get("e")
        return summary

    # -- reading the counters ------------------------------------------------

    def main_type(self) -> str | None:
        """Return the most frequent non-null type, or None when only nulls."""
        best = None
        for name in TYPE_ORDER[:-1]:
            count = self.types.get(name, 0)
            if count and (best is None or count > self.types[best]):
                best = name
        return best

    def object_count(self) -> int:
        """Return how many samples were objects."""
        return self.types.get("object", 0)

    def _required(
        self, evidence: RequestEvidence | None = None, name: str = ""
    ) -> list[str]:
        """Return the properties present in every object sample.

        With ``evidence``, a property the requests show optional is left out.
        """
        # Limitation: a server that writes every field every time makes every
        # field required here, unless its requests show a field optional or
        # the field never held a value
        total = self.object_count()
        required = [
            key
            for key, child in self.props.items()
            if child.n >= total and not child.never_held_data()
        ]
        if evidence is not None and required:
            optional = evidence.optional_keys(name, self)
            required = [key for key in required if key not in optional]
        return sorted(required)

    def never_held_data(self) -> bool:
        """Tell whether every one of enough samples was null, {} or [].

        A serializer that writes every field writes an unset optional field
        as its empty default; a required field would have held a value.
        """
        if self.n < MIN_EMPTY_SAMPLES or self.props or self.items or self.extra:
            return False
        return all(kind in ("null", "object", "array") for kind in self.types)

    def is_map(self) -> bool:
        """Tell whether this object is keyed by ids (a map), not by field names."""
        if self.extra is not None:
            return True
        if len(self.props) < MIN_MAP_KEYS:
            # one key that is an id, a date, an email, a phone number, an
            # address or a generated key is data (often personal), never a
            # field name: a map even alone
            return len(self.props) == 1 and looks_like_value(next(iter(self.props)))
        if all(segment_kind(key) is not None for key in self.props):
            return True
        return self._keys_vary() or self._keys_sparse()

    def _keys_vary(self) -> bool:
        """Tell whether the keys change from sample to sample (names as keys).

        Many keys that each appear in few samples, all holding the same type
        of value, are data (names, codes) rather than an object's fields.
        """
        if len(self.props) < VARYING_MAP_KEYS:
            return False
        total = self.object_count()
        mean = sum(child.n for child in self.props.values()) / (total * len(self.props))
        if mean >= VARYING_MAP_PRESENCE:
            return False
        kinds = {child.main_type() for child in self.props.values()}
        return len(kinds) == 1

    def _keys_sparse(self) -> bool:
        """Tell whether the keys are a few names each sample counts some of.

        An object's fields come with at least one the server always writes;
        number-valued keys none of which is always there, each in a minority
        of the samples, are names picked from a set (bytes per language).
        Keys holding strings are left alone: the fields of a union of object
        shapes (one credential form or another) look the same.
        """
        # Limitation: an object whose five or more number fields are all
        # optional and each mostly left out is taken for a map, and a map
        # over few names holding strings or objects stays an object
        total = self.object_count()
        if len(self.props) < SPARSE_MAP_KEYS or total < SPARSE_MAP_SAMPLES:
            return False
        counts = [child.n for child in self.props.values()]
        if max(counts) >= total:
            return False
        if sum(counts) / (total * len(counts)) >= SPARSE_MAP_PRESENCE:
            return False
        kinds = {child.main_type() for child in self.props.values()}
        return kinds == {"integer"} or kinds == {"number"}

    def render(
        self,
        openapi: str = "3.1",
        examples: bool = False,
        evidence: RequestEvidence | None = None,
        name: str = "",
    ) -> dict:
        """Return this summary as an OpenAPI schema object for the version.

        ``evidence`` (request shapes of the host) marks fields optional that
        are always present here; ``name`` is the property this value sits under.
        """
        nullable = "null" in self.types
        kinds = [name for name in TYPE_ORDER[:-1] if self.types.get(name)]
        # an integer location that also held fractions is a number, not two types
        if "integer" in kinds and "number" in kinds:
            kinds.remove("integer")
        if not kinds:
            if not nullable:
                return {}
            return {"type": "null"} if openapi == "3.1" else {"nullable": True}
        if len(kinds) == 1:
            schema = self._render_type(kinds[0], openapi, examples, evidence, name)
            return _with_null(schema, nullable, openapi)
        branches = [
            self._render_type(kind, openapi, examples, evidence, name) for kind in kinds
        ]
        if nullable:
            if openapi == "3.1":
                branches.append({"type": "null"})
            else:
                for branch in branches:
                    branch["nullable"] = True
        return {"oneOf": branches}

    def _render_type(
        self,
        kind: str,
        openapi: str,
        examples: bool,
        evidence: RequestEvidence | None = None,
        name: str = "",
    ) -> dict:
        """Render the part of the summary that belongs to one JSON type."""
        schema: dict = {"type": kind}
        if kind == "object":
            if self.is_map():
                values = SchemaSummary()
                for child in self.props.values():
                    values.merge(child)
                if self.extra is not None:
                    values.merge(self.extra)
                schema["additionalProperties"] = values.render(
                    openapi, examples, evidence, name
                )
                return schema
            if self.props:
                schema["properties"] = {
                    key: child.render(openapi, examples, evidence, key)
                    for key, child in sorted(self.props.items())
                }
                required = self._required(evidence, name)
                if required:
                    schema["required"] = required
        elif kind == "array":
            items = self.items
            # items keep the name of the array: they are what it holds
            schema["items"] = (
                items.render(openapi, examples, evidence, name) if items else {}
            )
        elif kind == "string" and self.formats:
            schema["format"] = _pick_format(self.formats)
        if (
            examples
            and _example_fits(kind, self.example)
            and not is_secret_name(name)
            and not is_secret_value(self.example)
        ):
            schema["example"] = self.example
        return schema


_PYTHON_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def _example_fits(kind: str, example: object) -> bool:
    """Tell whether a kept sample value is an example of the JSON type kind."""
    if example is None or kind not in _PYTHON_TYPES:
        return False
    # a bool is an int in Python: only a boolean schema takes one
    if isinstance(example, bool):
        return kind == "boolean"
    return isinstance(example, _PYTHON_TYPES[kind])


def _pick_format(formats: frozenset[str]) -> str:
    """Choose the most specific format when a value matched several."""
    for name in ("uuid", "email", "date-time", "date", "ipv4", "uri"):
        if name in formats:
            return name
    return sorted(formats)[0]


def _with_null(schema: dict, nullable: bool, openapi: str) -> dict:
    """Mark a single-type schema nullable the way the OpenAPI version spells it."""
    if not nullable:
        return schema
    if openapi == "3.1":
        schema["type"] = [schema["type"], "null"]
    else:
        schema["nullable"] = True
    return schema
