"""The path tree per host and the late decision of which segments are parameters.

Ingest only walks and counts: a segment that looks like a value (a number, a
uuid, a long token) goes to the node's parameter child, any other segment to a
literal child. Rendering then decides, from what has been seen so far, which
literal children are really values too (their siblings vary and they behave
like the parameter) and merges them into the parameter, so paths seen before a
position started to vary fold into the template with their schemas merged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from spec_from_stream.formats import MACHINE_KINDS, is_prefix_segment
from spec_from_stream.names import camel_case, singular
from spec_from_stream.operations import Operation
from spec_from_stream.schema import SchemaCaps

# a position with no value-like segment becomes a parameter only when at least
# this many sibling words behave alike: three static sub-resources are common,
# five siblings with the same shape rarely are. Limitation: fewer user names
# (/users/alicesmith) stay literal paths, showing a login in the document
MIN_WORD_CLUSTER = 5
# a word of hex digits only (`deadbee`, `ed25519`): a value beside hashes
_HEX_WORD = re.compile(r"[0-9a-f]{7,64}")
# share of response key paths two shapes must have in common to be "the same
# shape", and how deep and how many key paths a shape looks at
MIN_KEY_OVERLAP = 0.6
SHAPE_DEPTH = 3
SHAPE_PATHS = 200
# beside a parameter whose values were seen with no sub-resource, this many
# words sharing one sub-resource (each seen only a few times) are values too:
# static words beside names rarely hold the same sub-resource each
MIN_SHARED_SUB_RESOURCE = 3
# top-level fields holding plain values that alone make two shapes alike when
# both have this many and share enough of them
MIN_TOP_FIELDS = 3
# characters a path segment may hold unencoded (RFC 3986 pchar), but ";":
# a reader of the document would take what follows it for path parameters
_SAFE = "-._~!$&'()*+,=:@"


class PathNode:
    """One position in the path tree: literal children, a parameter, operations.

    ``suffixes`` holds what was seen with a suffix on this node's own segment:
    a method after a colon (``{jobId}:cancel``) or an id's file extension
    (``{reportId}.csv``), each a node of its own at the same depth.
    """

    __slots__ = ("children", "param", "suffixes", "kinds", "ops")

    def __init__(self) -> None:
        self.children: dict[str, PathNode] = {}
        self.param: PathNode | None = None
        self.suffixes: dict[str, PathNode] = {}
        # kinds of values seen at this node when it is a parameter (integer, ...)
        self.kinds: dict[str, int] = {}
        self.ops: dict[str, Operation] = {}

    def merge(self, other: PathNode, caps: SchemaCaps) -> None:
        """Add another subtree's counters to this one (other is left unchanged)."""
        for kind, count in other.kinds.items():
            self.kinds[kind] = self.kinds.get(kind, 0) + count
        for method, operation in other.ops.items():
            mine = self.ops.get(method)
            if mine is None:
                mine = self.ops[method] = Operation()
            mine.merge(operation, caps)
        for name, child in other.children.items():
            mine_child = self.children.get(name)
            if mine_child is None:
                mine_child = self.children[name] = PathNode()
            mine_child.merge(child, caps)
        for suffix, child in other.suffixes.items():
            mine_child = self.suffixes.get(suffix)
            if mine_child is None:
                mine_child = self.suffixes[suffix] = PathNode()
            mine_child.merge(child, caps)
        if other.param is not None:
            if self.param is None:
                self.param = PathNode()
            self.param.merge(other.param, caps)

    def flush(self, caps: SchemaCaps) -> None:
        """Walk pending bodies of the whole subtree into their schemas."""
        for operation in self.ops.values():
            operation.flush(caps)
        for child in self.children.values():
            child.flush(caps)
        for child in self.suffixes.values():
            child.flush(caps)
        if self.param is not None:
            self.param.flush(caps)

    def count_nodes(self) -> int:
        """Return the number of nodes in this subtree."""
        total = 1 + sum(child.count_nodes() for child in self.children.values())
        total += sum(child.count_nodes() for child in self.suffixes.values())
        if self.param is not None:
            total += self.param.count_nodes()
        return total

    def count_ops(self) -> int:
        """Return the number of concrete operations in this subtree."""
        total = len(self.ops) + sum(c.count_ops() for c in self.children.values())
        total += sum(child.count_ops() for child in self.suffixes.values())
        if self.param is not None:
            total += self.param.count_ops()
        return total

    def to_state(self, caps: SchemaCaps) -> dict:
        """Return the subtree as plain JSON data."""
        state: dict = {}
        if self.children:
            state["c"] = {
                name: child.to_state(caps) for name, child in self.children.items()
            }
        if self.param is not None:
            state["p"] = self.param.to_state(caps)
        if self.suffixes:
            state["x"] = {
                suffix: child.to_state(caps) for suffix, child in self.suffixes.items()
            }
        if self.kinds:
            state["k"] = self.kinds
        if self.ops:
            state["o"] = {
                method: operation.to_state(caps)
                for method, operation in self.ops.items()
            }
        return state

    @classmethod
    def from_state(cls, state: dict) -> PathNode:
        """Rebuild a subtree from to_state() output."""
        node = cls()
        for name, child in state.get("c", {}).items():
            node.children[name] = cls.from_state(child)
        if "p" in state:
            node.param = cls.from_state(state["p"])
        for suffix, child in state.get("x", {}).items():
            node.suffixes[suffix] = cls.from_state(child)
        node.kinds = dict(state.get("k", {}))
        for method, operation in state.get("o", {}).items():
            node.ops[method] = Operation.from_state(operation)
        return node


@dataclass
class PathParam:
    """A path parameter of a rendered template: its name and the value kinds."""

    name: str
    kinds: dict[str, int]


@dataclass
class Route:
    """One path template with its parameters and the merged node behind it.

    ``segments`` holds literal segments percent-encoded and parameters as
    ``{name}``.
    """

    segments: list[str]
    params: list[PathParam] = field(default_factory=list)
    node: PathNode = field(default_factory=PathNode)

    @property
    def template(self) -> str:
        """Return the template as written in an OpenAPI paths key."""
        return "/" + "/".join(self.segments)


def resolve(root: PathNode, caps: SchemaCaps) -> list[Route]:
    """Decide the path templates of one host's tree and return them, sorted."""
    routes: list[Route] = []
    _walk(root, [], [], 0, True, caps, routes)
    routes.sort(key=lambda route: route.template)
    return routes


def _walk(
    node: PathNode,
    segments: list[str],
    params: list[PathParam],
    depth: int,
    prefix_zone: bool,
    caps: SchemaCaps,
    routes: list[Route],
) -> None:
    """Collect the routes under one node (depth counts resource segments)."""
    if node.ops:
        routes.append(Route(segments, params, node))
    for suffix in sorted(node.suffixes):
        # the same position with a method or an extension written after it
        suffixed = segments[:-1] + [segments[-1] + quote(suffix, safe=_SAFE)]
        _walk(node.suffixes[suffix], suffixed, params, depth, False, caps, routes)
    literals, members = decide(node, depth, prefix_zone)
    for name in sorted(literals):
        still_prefix = prefix_zone and is_prefix_segment(name)
        next_depth = depth if still_prefix else depth + 1
        child = node.children[name]
        # literal segments are percent-encoded again where they hold characters
        # a template cannot show as they are (braces, slashes, spaces, ...)
        literal = quote(name, safe=_SAFE)
        _walk(
            child, segments + [literal], params, next_depth, still_prefix, caps, routes
        )
    if not members:
        return
    if len(members) == 1 and node.param is not None and members[0] is node.param:
        merged = node.param
    else:
        merged = PathNode()
        for member in members:
            merged.merge(member, caps)
    name = _param_name(segments, params)
    param = PathParam(name, dict(merged.kinds))
    _walk(
        merged,
        segments + ["{" + name + "}"],
        params + [param],
        depth + 1,
        False,
        caps,
        routes,
    )


def decide(
    node: PathNode, depth: int, prefix_zone: bool
) -> tuple[list[str], list[PathNode]]:
    """Split a node's literal children into literals and parameter members.

    ``depth`` counts the resource segments above the node; ``prefix_zone``
    says whether all of them were api/version prefixes.
    """
    literals: list[str] = []
    members: list[PathNode] = []
    words: dict[str, PathNode] = {}
    for name, child in node.children.items():
        if prefix_zone and is_prefix_segment(name):
            literals.append(name)
        elif _free_text(name):
            # a resource name holds no space, no "?" and no ";": this is data
            # (a search term, a person's name, an encoded query), often
            # personal, and never shows as a literal
            members.append(as_value(child, "word"))
        else:
            words[name] = child
    # names under the siblings are values themselves when there are many
    varied = _names_below(node) >= MIN_WORD_CLUSTER
    seed = node.param
    if seed is not None:
        members.append(seed)
        seed_profile = _Profile(seed)
        # values that are numbers or hashes leave no room for plain words: a
        # word there is a literal unless it only ever failed (a bad id probe)
        machine = all(kind in MACHINE_KINDS for kind in seed.kinds)
        # Limitation: an API taking a name or a number at one position
        # (/pokemon/25 and /pokemon/pikachu) keeps the names as literals
        joined = [seed_profile]
        pending: dict[str, _Profile] = {}
        for name in sorted(words):
            profile = _Profile(words[name])
            if profile.failed_only():
                members.append(as_value(words[name], None))
            elif "hex" in seed.kinds and _HEX_WORD.fullmatch(name):
                # beside hashes, a word of hex digits is one more (`deadbee`)
                members.append(as_value(words[name], "hex"))
            elif not machine and profile.fits(seed_profile, varied):
                members.append(as_value(words[name], "word"))
                joined.append(profile)
            else:
                pending[name] = profile
        if not machine and not seed_profile.labels:
            # the seed's values were only seen on their own, the words only
            # with a sub-resource: several words holding the same one are
            # values whose own answers the traffic has not shown yet
            for name in _sharing_a_sub_resource(pending, seed_profile, varied):
                members.append(as_value(words[name], "word"))
                joined.append(pending.pop(name))
        # sparse traffic shows some values only through what they share with
        # another value (one with a GET, the seed with a sub-resource): a word
        # that behaves like a word that joined joins as well
        while not machine and pending:
            found = [
                name
                for name, profile in pending.items()
                if any(profile.fits(other, varied) for other in joined[1:])
            ]
            if not found:
                break
            for name in found:
                members.append(as_value(words[name], "word"))
                joined.append(pending.pop(name))
        literals.extend(pending)
        return literals, members

    if depth == 0 or len(words) < MIN_WORD_CLUSTER:
        literals.extend(words)
        return literals, members
    clusters: list[list[tuple[str, _Profile]]] = []
    failed: list[str] = []
    for name in sorted(words):
        profile = _Profile(words[name])
        if profile.failed_only():
            failed.append(name)
            continue
        # a word joins every cluster it behaves like one member of (optional
        # fields make two single answers differ where a third links them);
        # clusters it links become one
        linked = [
            cluster
            for cluster in clusters
            if any(
                profile.fits(other, varied) or other.fits(profile, varied)
                for _, other in cluster
            )
        ]
        joined = [(name, profile)]
        for cluster in linked:
            joined.extend(cluster)
            clusters.remove(cluster)
        clusters.append(joined)
    best = max(clusters, key=len, default=[])
    if len(best) < MIN_WORD_CLUSTER:
        literals.extend(words)
        return literals, members
    chosen = {name for name, _ in best}
    for name, child in words.items():
        if name in chosen:
            members.append(as_value(child, "word"))
        elif name in failed:
            members.append(as_value(child, None))
        else:
            literals.append(name)
    return literals, members


def _sharing_a_sub_resource(
    pending: dict[str, _Profile], seed: _Profile, varied: bool
) -> list[str]:
    """Return the words that hold one sub-resource in common and behave alike.

    Only a group of MIN_SHARED_SUB_RESOURCE words or more counts, every word
    of it must behave like another one of it, and none may answer a method
    differently from the seed's values.
    """
    holders: dict[str, list[str]] = {}
    for name, profile in pending.items():
        if profile.differs_from(seed):
            continue
        for label in profile.labels:
            holders.setdefault(label, []).append(name)
    chosen: set[str] = set()
    for label in sorted(holders):
        group = holders[label]
        if len(group) < MIN_SHARED_SUB_RESOURCE:
            continue
        alike = [
            name
            for name in group
            if any(
                pending[name].fits(pending[other], varied)
                for other in group
                if other != name
            )
        ]
        if len(alike) >= MIN_SHARED_SUB_RESOURCE:
            chosen.update(alike)
    return sorted(chosen)


def _free_text(name: str) -> bool:
    """Tell whether a decoded segment holds white space, "?" or ";", as data does.

    "?" and ";" reach a decoded segment only encoded (%3F, %3B): a query or
    path parameters a client encoded into the path, never a resource name.
    """
    return "?" in name or ";" in name or any(char.isspace() for char in name)


def _names_below(node: PathNode) -> int:
    """Return how many distinct names lie one level below a node's children."""
    names: set[str] = set()
    for child in node.children.values():
        names.update(child.children)
    if node.param is not None:
        names.update(node.param.children)
    return len(names)


def failed_only(node: PathNode) -> bool:
    """Tell whether a node only ever answered with errors and has no subtree."""
    return _Profile(node).failed_only()


def as_value(child: PathNode, kind: str | None) -> PathNode:
    """Return a literal child seen as one value of the parameter (a view)."""
    view = PathNode()
    view.children = child.children
    view.param = child.param
    view.suffixes = child.suffixes
    view.ops = child.ops
    view.kinds = {kind: 1} if kind else {}
    return view


class _Profile:
    """How a node behaves: successful shapes per method and child names."""

    __slots__ = ("methods", "labels", "has_param", "below")

    def __init__(self, node: PathNode) -> None:
        # shapes of the successful (2xx, 3xx) answers, by method
        self.methods: dict[str, set[tuple]] = {}
        for method, operation in node.ops.items():
            shapes: set[tuple] = set()
            succeeded = False
            for status, result in operation.responses.items():
                if not 200 <= status < 400:
                    continue
                succeeded = True
                if result.empty:
                    shapes.add(("empty", None, None))
                for summary in result.media.values():
                    shapes.add(_shape(summary))
            if succeeded:
                self.methods[method] = shapes
        # a suffix (":cancel", ".csv") is a sub-resource as much as a child
        self.labels = set(node.children) | set(node.suffixes)
        self.has_param = node.param is not None
        # what lies one level further down, for children that are values
        self.below: set[str] = set()
        for child in node.children.values():
            self.below.update(child.children)
            if child.param is not None:
                self.below.add("{}")

    def failed_only(self) -> bool:
        """Tell whether the node only ever answered with errors and has no subtree."""
        return not self.methods and not self.labels and not self.has_param

    def differs_from(self, other: _Profile) -> bool:
        """Tell whether a method both answered came back in different shapes."""
        for method, shapes in self.methods.items():
            theirs = other.methods.get(method)
            if not shapes or not theirs:
                continue
            if not any(_similar(a, b) for a in shapes for b in theirs):
                return True
        return False

    def fits(self, other: _Profile, varied: bool = False) -> bool:
        """Tell whether this node behaves as one more value of other's position.

        Any method both answered successfully must have answered with the same
        shape, every sub-resource must exist under other too (when other shows
        any), and at least one
        shared method or sub-resource must show that they are alike. Methods
        only one of them was seen with say nothing, as traffic is sparse.
        ``varied`` says the names below the siblings are many (values).
        """
        alike = False
        for method, shapes in self.methods.items():
            theirs = other.methods.get(method)
            if theirs is None:
                continue
            if not shapes or not theirs:
                alike = True
                continue
            if not any(_similar(a, b) for a in shapes for b in theirs):
                return False
            alike = True
        if self.labels - other.labels and other.labels:
            # (a value with nothing seen below it says nothing, as traffic is
            # sparse.) Children named differently under each value can be
            # values too (/repos/{owner}/{repo}): then what lies below them
            # must match. Such names overlap in part when values repeat under
            # several parents, which many names tell apart from a few
            # sub-resources
            if not self.below & other.below:
                return False
            if self.labels & other.labels and not varied:
                return False
            alike = True
        if self.has_param and not other.has_param:
            return False
        return alike or bool(self.labels & other.labels)


def _shape(summary) -> tuple:
    """Return a coarse shape of a body summary: kind, main type and key paths.

    Only the leaves count, down to a few levels, so that two bodies wrapped in
    the same envelope (``{"data": [...], "meta": {...}}``) differ by what the
    envelope holds rather than look alike by the envelope.
    """
    schema = summary.schema
    if summary.kind != "json" or schema is None:
        return (summary.kind, None, None)
    paths: set[str] = set()
    _key_paths(schema, "", 0, paths)
    containers = _prefixes(paths)
    leaves = {
        path
        for path in paths
        if f"{path}." not in containers and f"{path}[]" not in containers
    }
    return ("json", schema.main_type(), frozenset(leaves) or None)


def _prefixes(paths: set[str]) -> set[str]:
    """Return every container prefix ("a." or "a[]") of a set of key paths."""
    found = set()
    for path in paths:
        for index, char in enumerate(path):
            if char == "." and index:
                found.add(path[:index] + ".")
            elif char == "[":
                found.add(path[:index] + "[]")
    return found


def _key_paths(schema, prefix: str, depth: int, paths: set[str]) -> None:
    """Collect the property paths of a summary down to SHAPE_DEPTH levels."""
    if depth >= SHAPE_DEPTH or len(paths) >= SHAPE_PATHS:
        return
    for key, child in schema.props.items():
        path = f"{prefix}.{key}"
        paths.add(path)
        _key_paths(child, path, depth + 1, paths)
    if schema.items is not None:
        _key_paths(schema.items, prefix + "[]", depth + 1, paths)


def _similar(a: tuple, b: tuple) -> bool:
    """Tell whether two coarse shapes are the same kind of body."""
    if a[:2] != b[:2]:
        return False
    keys_a, keys_b = a[2], b[2]
    if not keys_a or not keys_b:
        return True
    # few samples show only some optional keys: a subset is the same shape
    if keys_a <= keys_b or keys_b <= keys_a:
        return True
    if _overlap(keys_a, keys_b) >= MIN_KEY_OVERLAP:
        return True
    # an object's own fields tell what it is; what lies deeper can differ in
    # few samples (a small map keyed by weekdays holds other keys each time)
    top_a, top_b = _top_fields(keys_a), _top_fields(keys_b)
    if len(top_a) < MIN_TOP_FIELDS or len(top_b) < MIN_TOP_FIELDS:
        return False
    return _overlap(top_a, top_b) >= MIN_KEY_OVERLAP


def _overlap(a: frozenset, b: frozenset) -> float:
    """Return the Jaccard index of two key path sets."""
    return len(a & b) / len(a | b)


def _top_fields(leaves: frozenset) -> frozenset:
    """Return the leaves that are fields of the body object itself."""
    return frozenset(
        path for path in leaves if path.count(".") == 1 and "[" not in path
    )


def _param_name(segments: list[str], params: list[PathParam]) -> str:
    """Name a parameter after the resource segment before it, unique in the path."""
    base = "id"
    for segment in reversed(segments):
        if not segment.startswith("{"):
            base = camel_case(singular(segment)) + "Id"
            break
    used = {param.name for param in params}
    name = base
    number = 2
    while name in used:
        name = f"{base}{number}"
        number += 1
    return name
