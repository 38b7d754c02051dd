"""Evidence beyond presence for response schemas: always-present optional fields.

A server often writes every field of a resource in every response, so a field
that is always present in responses may still be optional. The requests that
create or replace the same resource tell more: a client leaves optional fields
out. Object shapes of whole request bodies (POST and PUT, not partial updates)
are kept per host; a response object whose property names are close to one of
them takes the request's optional fields as optional too. Problem details
bodies (RFC 9457) have optional members by the standard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spec_from_stream.schema import SchemaSummary

# methods whose bodies carry a whole resource; PATCH bodies are partial by design
WHOLE_BODY_METHODS = frozenset(("post", "put"))
# a request object shape links to a response object with at least this share of
# property names in common (Jaccard index of the two name sets)
MIN_SIMILARITY = 0.6
# request samples an object shape needs before its absent fields count: one
# absence is already evidence, one sample alone cannot show any
MIN_SAMPLES = 2
# bodies a request needs before a field always sent marks it whole, not partial
MIN_WHOLE_SAMPLES = 5
# members of an RFC 9457 problem details object: all optional by the standard
PROBLEM_MEMBERS = frozenset(("type", "title", "status", "detail", "instance"))


def is_problem_media(media: str) -> bool:
    """Tell whether a media type is problem details (application/problem+json)."""
    return media.endswith("/problem+json")


def drop_problem_members(schema: dict) -> None:
    """Leave the standard problem details members out of a body's required list.

    RFC 9457 makes every member optional; an API that always writes them
    does so by choice. Extension members keep the usual rule.
    """
    for branch in [schema, *schema.get("oneOf", ())]:
        required = branch.get("required")
        if not required:
            continue
        kept = [key for key in required if key not in PROBLEM_MEMBERS]
        if kept:
            branch["required"] = kept
        else:
            del branch["required"]


class RequestShape:
    """One object location of the request bodies: its name and counters."""

    __slots__ = ("name", "keys", "optional")

    def __init__(self, name: str, summary: SchemaSummary) -> None:
        self.name = name
        self.keys = frozenset(summary.props)
        total = summary.object_count()
        # fields the client left out at least once
        self.optional = frozenset(
            key for key, child in summary.props.items() if child.n < total
        )


class RequestEvidence:
    """Object shapes seen in a host's whole request bodies."""

    def __init__(self) -> None:
        self.shapes: list[RequestShape] = []
        # shapes by property name, so a lookup only compares shapes that overlap
        self._by_key: dict[str, list[RequestShape]] = {}
        self._answers: dict[tuple[str, frozenset[str]], frozenset[str]] = {}

    def add_body(self, method: str, schema: SchemaSummary) -> None:
        """Keep the object shapes of one operation's request bodies if whole."""
        if method not in WHOLE_BODY_METHODS or not _is_whole(schema):
            return
        self._collect("", schema)
        self._answers.clear()

    def _collect(self, name: str, summary: SchemaSummary) -> None:
        """Keep every object shape at and below one location."""
        if summary.items is not None:
            # array items keep the name of the array's property
            self._collect(name, summary.items)
        if not summary.props or summary.is_map():
            return
        if summary.object_count() >= MIN_SAMPLES:
            shape = RequestShape(name, summary)
            self.shapes.append(shape)
            for key in shape.keys:
                self._by_key.setdefault(key, []).append(shape)
        for key, child in summary.props.items():
            self._collect(key, child)

    def optional_keys(self, name: str, summary: SchemaSummary) -> frozenset[str]:
        """Return the properties of a response object the requests show optional.

        ``name`` is the property the object sits under ("" at the body root).
        """
        # Limitation: objects are linked by property names only; a response
        # documented stricter than a request of nearly the same names (a field
        # optional on create, always returned) gets that field optional
        keys = frozenset(summary.props)
        if not self.shapes or not keys:
            return frozenset()
        answer = self._answers.get((name, keys))
        if answer is None:
            answer = self._answers[(name, keys)] = self._lookup(name, keys)
        return answer

    def _lookup(self, name: str, keys: frozenset[str]) -> frozenset[str]:
        """Find the linked shapes of one response object and their optional keys."""
        candidates = {
            id(shape): shape for key in keys for shape in self._by_key.get(key, ())
        }
        linked = []
        for shape in candidates.values():
            similarity = len(keys & shape.keys) / len(keys | shape.keys)
            if similarity >= MIN_SIMILARITY:
                linked.append((shape.name == name, similarity, shape))
        if not linked:
            return frozenset()
        # a shape under the same property name is the same entity first
        best = max(entry[:2] for entry in linked)
        found: set[str] = set()
        for same_name, similarity, shape in linked:
            if (same_name, similarity) == best:
                found |= shape.optional
        return frozenset(found)


def _is_whole(schema: SchemaSummary) -> bool:
    """Tell whether request bodies carry whole resources, not partial updates.

    A whole body has at least one field the client always sent, below any
    envelope (an object whose only field is one object, such as {"user": {}}).
    A body of only optional fields is a partial update, whatever its method.
    """
    node = schema
    while True:
        if node.main_type() == "array" and node.items is not None:
            node = node.items
            continue
        if node.main_type() != "object" or not node.props or node.is_map():
            return False
        total = node.object_count()
        always = [child for child in node.props.values() if child.n >= total]
        if len(node.props) == 1 and always and always[0].main_type() == "object":
            node = always[0]
            continue
        return bool(always) and total >= MIN_WHOLE_SAMPLES
