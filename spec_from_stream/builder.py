"""The spec builder: exchanges in, counters kept, OpenAPI documents out.

Usage::

    builder = SpecBuilder()
    for exchange in exchanges:
        builder.add(exchange)
    documents = builder.render()  # {host: OpenAPI document}

The builder keeps statistics and decides late: ``add`` only walks the path
tree and updates counters; ``render`` turns the counters into path templates
and schemas from everything seen so far. Two builders merge by adding their
counters, and ``to_state``/``from_state`` carry them across restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from spec_from_stream.exchange import BadMessage, decode, validate
from spec_from_stream.formats import is_prefix_segment, segment_kind, split_suffix
from spec_from_stream.operations import Operation, header
from spec_from_stream.paths import PathNode, as_value, decide, failed_only, resolve
from spec_from_stream.render import documented, render_document
from spec_from_stream.schema import SchemaCaps

logger = logging.getLogger(__name__)

STATE_VERSION = 2
# pathname -> node lookups kept for the fast path, in two generations of this
# many: when the young one is full it becomes the old one, and a path found in
# the old one moves back, so paths in use stay while new ids pass through
PATH_CACHE_SIZE = 8192
# exchanges between two attempts to fold the literals of a full path position
COMPACT_RETRY = 10_000
# a host seen this few times gives its place to a new host when the host cap is
# full: made-up Host headers must not keep the real host out
FEW_HOST_EXCHANGES = 3

_ERROR_PATHS = "paths that only failed, at a full position"
# what each kind of path mending does, for its first log line (never values)
_NORMALISATIONS = {
    "path_parameters": 'parameters after ";" in a segment removed',
    "target_in_pathname": "query or URL in request.pathname split off",
}

__all__ = ["BadMessage", "Limits", "SpecBuilder", "STATE_VERSION"]


@dataclass(frozen=True)
class Limits:
    """Caps that keep memory and the document bounded (each logged once when hit)."""

    max_operations_per_host: int = 1000
    max_schema_depth: int = 12
    max_properties: int = 200
    max_distinct_values: int = 100
    max_hosts: int = 50
    max_nodes_per_host: int = 20_000
    max_path_segments: int = 64


class SpecBuilder:
    """Builds OpenAPI documents, one per host, from http-types exchanges."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        initial_spec: dict | None = None,
        examples: bool = False,
    ) -> None:
        self.limits = limits or Limits()
        self.initial_spec = initial_spec
        self.examples = examples
        self.exchanges = 0
        self._caps = SchemaCaps(
            self.limits.max_schema_depth, self.limits.max_properties, examples
        )
        self._hosts: dict[str, PathNode] = {}
        self._nodes: dict[str, int] = {}
        self._ops: dict[str, int] = {}
        self._cache: dict[tuple[str, str], PathNode] = {}
        self._cache_old: dict[tuple[str, str], PathNode] = {}
        self._warned: set[str] = set()
        self._dropped: dict[str, int] = {}
        self._normalised: dict[str, int] = {}
        self._rendered_ops: tuple[int, int] | None = None
        self._compact_tried: dict[int, int] = {}
        # full positions known to hold no word that only failed: a word joins
        # a full position only after room was made, so they stay so until then
        self._none_failed: set[int] = set()

    # -- ingest ------------------------------------------------------------

    def add(self, exchange: dict) -> None:
        """Count one exchange; raises BadMessage (with .kind) on a bad shape."""
        self._ingest(validate(exchange))

    def add_raw(self, raw: bytes | str) -> None:
        """Decode, validate and count one message (BadMessage on bad input).

        The same as ``add(decode(raw))`` with the exchange checked only once.
        """
        self._ingest(decode(raw))

    def _ingest(self, exchange: dict) -> None:
        """Count one exchange that has passed validation."""
        request = exchange["request"]
        headers = request.get("headers")
        given = request.get("host") or header(headers, "host")
        pathname = request.get("pathname")
        query = request.get("query")
        if pathname is None:
            raw = request.get("path") or request.get("url") or "/"
            pathname, query, netloc = _split_target(raw, query)
            given = given or netloc
        # a handful of hosts make up all the traffic: their names are cached
        host = (_HOST_NAMES.get(given) or _host_name(given)) if given else "unknown"

        key = (host, pathname)
        node = self._cache.get(key)
        if node is None:
            node = self._cache_old.get(key)
            if node is None:
                # only mended pathnames are cached, so one that needs mending
                # misses every time and is mended here, off the common path
                pathname, query, netloc = self._mend(pathname, query)
                if netloc and not given:
                    host = _host_name(netloc)
                key = (host, pathname)
                node = self._cache.get(key)
                if node is None:
                    node = self._cache_old.get(key)
            if node is None:
                if pathname.count("/") > self.limits.max_path_segments:
                    raise BadMessage("too_deep", "path has too many segments")
                response = exchange.get("response")
                failed = bool(response) and response.get("statusCode", 0) >= 400
                node = self._locate(host, pathname, failed)
                if node is None:
                    return
            if len(self._cache) >= PATH_CACHE_SIZE:
                self._cache_old = self._cache
                self._cache = {}
            self._cache[key] = node

        method = request["method"]
        operation = node.ops.get(method)
        if operation is None:
            if self._ops.get(host, 0) >= self.limits.max_operations_per_host:
                self._drop("operations", "operations per host")
                return
            operation = node.ops[method] = Operation()
            self._ops[host] = self._ops.get(host, 0) + 1
            self._rendered_ops = None
        operation.add(
            method,
            request,
            query,
            exchange.get("response"),
            exchange.get("meta"),
            self._caps,
        )
        self.exchanges += 1

    def _mend(self, pathname: str, query: dict | None) -> tuple[str, dict | None, str]:
        """Return (pathname, query, host) with what is no path cut from the pathname.

        The host is "" unless the pathname was a whole URL.
        """
        netloc = ""
        if "?" in pathname or "#" in pathname or pathname[:1] != "/":
            # a whole request target written where only its path belongs
            # (/v1/search?email=..., https://host/v1/x): the query must not
            # become part of a path name
            target = pathname
            pathname, query, netloc = _split_target(target, query)
            # a path without its leading slash ("v1/users") is no target
            if netloc or len(pathname) < len(target):
                self._normalise("target_in_pathname")
        if ";" in pathname:
            # parameters after ";" in a segment (;jsessionid=..., ;v=2) carry
            # session ids and options, not resource names. Limitation: an API
            # taking arguments as matrix parameters is documented without them
            pathname = _without_path_parameters(pathname)
            self._normalise("path_parameters")
        return pathname, query, netloc

    def _locate(self, host: str, pathname: str, failed: bool) -> PathNode | None:
        """Walk (and grow) the host's tree to the node of one pathname.

        ``failed`` says the exchange was answered with an error status.
        """
        root = self._hosts.get(host)
        if root is None:
            if len(self._hosts) >= self.limits.max_hosts and not self._evict_host():
                self._drop("hosts", "hosts")
                return None
            root = self._hosts[host] = PathNode()
            self._nodes[host] = 1
        node = root
        prefix = True
        depth = 0
        limits = self.limits
        # split before decoding so that an encoded slash stays inside its segment
        for raw in pathname.split("/"):
            if not raw:
                continue
            segment = unquote(raw) if "%" in raw else raw
            if prefix and is_prefix_segment(segment):
                node = self._literal(host, node, segment)
                continue
            prefix = False
            # a method or an extension after the segment makes an operation
            # of its own on the same position (jobs/{jobId}:cancel)
            segment, suffix = split_suffix(segment)
            # Limitation: a literal that looks like a value (/reports/2024)
            # goes to the parameter; only plain words are judged by behaviour
            kind = segment_kind(segment)
            if (
                kind is None
                and len(node.children) >= limits.max_distinct_values
                and segment not in node.children
                and not self._evict_failed(host, node)
                and not self._compact(node, depth)
            ):
                if failed and node.param is None:
                    # a probe that failed must not make a parameter of a
                    # position full of words that answered
                    self._drop("error_paths", _ERROR_PATHS)
                    return None
                self._drop("distinct_values", "distinct values per path position")
                kind = "word"
            depth += 1
            if kind is None:
                node = self._literal(host, node, segment)
            else:
                node = self._value(host, node, kind)
            if suffix:
                node = self._suffixed(host, node, suffix)
        self._rendered_ops = None
        return node

    def _evict_host(self) -> bool:
        """Remove the host seen least to make room, if it was seen very few times.

        Among hosts seen equally rarely the oldest goes, so a new host has as
        long as the cap has hosts to show it is real.
        """
        # Limitation: a real host seen three times or fewer can still give its
        # place away to a flood of made-up hosts before it is seen again
        fewest = None
        least = FEW_HOST_EXCHANGES + 1
        for host, root in self._hosts.items():
            count = _exchanges_below(root, least)
            if count < least:
                fewest, least = host, count
        if fewest is None:
            return False
        del self._hosts[fewest]
        del self._nodes[fewest]
        self._ops.pop(fewest, None)
        # cached lookups may point into the removed tree
        self._forget_paths()
        self._none_failed.clear()
        self._rendered_ops = None
        self._drop("hosts", "hosts", max(least, 1))
        return True

    def _evict_failed(self, host: str, node: PathNode) -> bool:
        """Make room at a full position by removing words that only failed.

        A scanner's probes (/.env, /wp-login.php: 404 each) must not take the
        places of words that answered, nor be folded with them. They join the
        parameter when there is one (a bad id probe), else they are dropped
        and counted: a path of literals that only failed is not documented.
        """
        if id(node) in self._none_failed:
            return False
        failed = [name for name, child in node.children.items() if _failed(child)]
        if not failed:
            self._none_failed.add(id(node))
            return False
        param = node.param
        dropped = 0
        for name in failed:
            child = node.children.pop(name)
            self._nodes[host] -= 1
            if param is None:
                dropped += sum(op.count for op in child.ops.values())
                self._ops[host] -= len(child.ops)
                continue
            self._ops[host] -= sum(1 for method in child.ops if method in param.ops)
            param.merge(as_value(child, None), self._caps)
        if dropped:
            self._drop("error_paths", _ERROR_PATHS, dropped)
        # cached lookups may point to the removed children
        self._forget_paths()
        self._rendered_ops = None
        return True

    def _compact(self, node: PathNode, depth: int) -> bool:
        """Fold the literal children that are values into the parameter now.

        Called when a position reaches its cap of literal children; returns
        whether room was made. The decision is the one rendering would take
        from the traffic so far, made early to keep memory bounded.
        """
        # a position where nothing folded is tried again only after a while:
        # deciding walks every child, too much to do for every new word
        tried = self._compact_tried.get(id(node))
        if tried is not None and self.exchanges - tried < COMPACT_RETRY:
            return False
        self._compact_tried[id(node)] = self.exchanges
        node.flush(self._caps)
        # nodes at resource depth 0 have only api/version prefixes above them
        literals, _ = decide(node, depth, depth == 0)
        kept = set(literals)
        folded = [name for name in node.children if name not in kept]
        if not folded:
            return False
        param = node.param
        if param is None:
            param = node.param = PathNode()
        for name in folded:
            child = node.children.pop(name)
            kind = None if failed_only(child) else "word"
            param.merge(as_value(child, kind), self._caps)
        # cached lookups may point into the folded subtrees
        self._forget_paths()
        self._none_failed.clear()
        self._rendered_ops = None
        return True

    def _forget_paths(self) -> None:
        """Drop the cached path lookups: they may point to nodes now gone."""
        self._cache.clear()
        self._cache_old.clear()

    def _literal(self, host: str, node: PathNode, segment: str) -> PathNode:
        """Return the literal child of a node, creating it within the node cap."""
        child = node.children.get(segment)
        if child is not None:
            return child
        if self._nodes[host] >= self.limits.max_nodes_per_host:
            self._drop("nodes", "path nodes per host")
            return self._value(host, node, "word")
        self._nodes[host] += 1
        child = node.children[segment] = PathNode()
        return child

    def _suffixed(self, host: str, node: PathNode, suffix: str) -> PathNode:
        """Return the node of a segment with a suffix, creating it within the cap."""
        child = node.suffixes.get(suffix)
        if child is not None:
            return child
        # Limitation: past either cap a new suffix is counted on the segment
        # without it (key:value segments such as lang:go can be many)
        if len(node.suffixes) >= self.limits.max_distinct_values:
            self._drop("distinct_values", "distinct values per path position")
            return node
        if self._nodes[host] >= self.limits.max_nodes_per_host:
            self._drop("nodes", "path nodes per host")
            return node
        self._nodes[host] += 1
        child = node.suffixes[suffix] = PathNode()
        return child

    def _value(self, host: str, node: PathNode, kind: str) -> PathNode:
        """Return the parameter child of a node, counting the value's kind."""
        child = node.param
        if child is None:
            child = node.param = PathNode()
            self._nodes[host] += 1
        child.kinds[kind] = child.kinds.get(kind, 0) + 1
        return child

    def _drop(self, kind: str, what: str, count: int = 1) -> None:
        """Count something a cap cut off; log the first time per kind."""
        self._dropped[kind] = self._dropped.get(kind, 0) + count
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(
                "cap reached: %s (limit from Limits); further ones are merged or "
                "dropped and counted in SpecBuilder.warnings",
                what,
            )

    def _normalise(self, kind: str) -> None:
        """Count an exchange whose path was mended; log the first time per kind."""
        count = self._normalised.get(kind, 0)
        self._normalised[kind] = count + 1
        if not count:
            logger.info(
                "request paths mended (%s: %s); further ones are counted in "
                "SpecBuilder.normalised",
                kind,
                _NORMALISATIONS[kind],
            )

    # -- reading -----------------------------------------------------------

    @property
    def warnings(self) -> dict[str, int]:
        """Return how often each cap cut something off, by cap name."""
        counts = dict(self._dropped)
        for name, count in self._caps.hits.items():
            if count:
                counts[name] = count
                if name not in self._warned:
                    self._warned.add(name)
                    logger.warning("cap reached: %s; deeper parts left untyped", name)
        return counts

    @property
    def normalised(self) -> dict[str, int]:
        """Return how many exchanges had their path mended, by kind.

        ``path_parameters``: parameters after ";" cut from segments;
        ``target_in_pathname``: a query or a whole URL split off the pathname.
        """
        return dict(self._normalised)

    def operation_count(self) -> int:
        """Return the number of operations the rendered documents hold."""
        key = (self.exchanges, len(self._hosts))
        if self._rendered_ops is not None and self._rendered_ops[0] == key[0]:
            return self._rendered_ops[1]
        self._flush()
        total = 0
        for root in self._hosts.values():
            for route in resolve(root, self._caps):
                total += sum(
                    1 for method in route.node.ops if documented(route, method)
                )
        self._rendered_ops = (self.exchanges, total)
        return total

    def render(self, openapi_version: str = "3.1") -> dict[str, dict]:
        """Return one OpenAPI document per host (key: the host as recorded)."""
        self._flush()
        documents = {}
        for host in sorted(self._hosts):
            root = self._hosts[host]
            routes = resolve(root, self._caps)
            documents[host] = render_document(
                host,
                routes,
                openapi=openapi_version,
                examples=self.examples,
                # each document tells how many of its own host's exchanges it
                # was inferred from
                exchanges=_exchanges_below(root, None),
                initial_spec=self.initial_spec,
            )
        if not documents and self.initial_spec:
            host = _initial_host(self.initial_spec)
            documents[host] = render_document(
                host,
                [],
                openapi=openapi_version,
                initial_spec=self.initial_spec,
            )
        self.warnings  # noqa: B018 - logs caps hit while walking bodies
        return documents

    def _flush(self) -> None:
        """Walk every pending body into its schema."""
        for root in self._hosts.values():
            root.flush(self._caps)

    # -- merging and state -------------------------------------------------

    def merge(self, other: SpecBuilder) -> None:
        """Add another builder's counters to this one."""
        for host, tree in other._hosts.items():
            root = self._hosts.get(host)
            if root is None:
                root = self._hosts[host] = PathNode()
            root.merge(tree, self._caps)
            self._nodes[host] = root.count_nodes()
            self._ops[host] = root.count_ops()
        # merged positions may hold new words that only failed
        self._none_failed.clear()
        for kind, count in other._dropped.items():
            self._dropped[kind] = self._dropped.get(kind, 0) + count
        for kind, count in other._normalised.items():
            self._normalised[kind] = self._normalised.get(kind, 0) + count
        self.exchanges += other.exchanges
        self._rendered_ops = None

    def to_state(self) -> dict:
        """Return the counters as JSON-serialisable data (versioned)."""
        return {
            "version": STATE_VERSION,
            "exchanges": self.exchanges,
            "hosts": {
                host: tree.to_state(self._caps) for host, tree in self._hosts.items()
            },
            "dropped": dict(self._dropped),
            "normalised": dict(self._normalised),
        }

    @classmethod
    def from_state(
        cls,
        state: dict,
        limits: Limits | None = None,
        *,
        initial_spec: dict | None = None,
        examples: bool = False,
    ) -> SpecBuilder:
        """Rebuild a builder from to_state() output; ValueError if incompatible."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            found = state.get("version") if isinstance(state, dict) else None
            raise ValueError(
                f"builder state version {found!r} is not {STATE_VERSION}; "
                "remove the saved state to start over"
            )
        builder = cls(limits, initial_spec=initial_spec, examples=examples)
        builder.exchanges = state["exchanges"]
        for host, tree in state["hosts"].items():
            root = builder._hosts[host] = PathNode.from_state(tree)
            builder._nodes[host] = root.count_nodes()
            builder._ops[host] = root.count_ops()
        builder._dropped = dict(state.get("dropped", {}))
        # states saved before paths were mended have no such counts
        builder._normalised = dict(state.get("normalised", {}))
        return builder


def _failed(node: PathNode) -> bool:
    """Tell whether a node has no subtree and every answer it got was an error."""
    if node.children or node.param is not None or node.suffixes or not node.ops:
        return False
    return all(
        operation.responses and min(operation.responses) >= 400
        for operation in node.ops.values()
    )


def _exchanges_below(root: PathNode, limit: int | None) -> int:
    """Return the exchanges counted in a tree, stopping once limit is reached.

    ``None``: count them all.
    """
    total = 0
    stack = [root]
    while stack and (limit is None or total < limit):
        node = stack.pop()
        total += sum(operation.count for operation in node.ops.values())
        stack.extend(node.children.values())
        stack.extend(node.suffixes.values())
        if node.param is not None:
            stack.append(node.param)
    return total


def _split_target(raw: str, query: dict | None) -> tuple[str, dict | None, str]:
    """Return (pathname, query, host) from a request target or a whole URL.

    The query comes from the target only when the exchange has none; the
    fragment is dropped. :raise BadMessage: the URL cannot be split.
    """
    try:
        parts = urlsplit(raw)
    except ValueError:
        # an unbalanced IPv6 bracket ("http://[::1/a") and the like
        raise BadMessage("not_exchange", "request URL cannot be parsed") from None
    path = parts.path
    if parts.scheme and not parts.netloc:
        # no URL but a path with a colon ("jobs:batchGet?x=1") or an
        # authority ("host:443"): urlsplit took its start for a scheme
        path = raw.partition("#")[0].partition("?")[0]
    if not query and parts.query:
        query = {
            name: values[0] if len(values) == 1 else values
            for name, values in parse_qs(parts.query, keep_blank_values=True).items()
        }
    return path or "/", query, parts.netloc


def _host_name(raw: str) -> str:
    """Return the host a Host header or URL authority names (cached).

    Host names are case-insensitive and may end in a dot (the DNS root);
    a port stays part of the host unless it is HTTP's or HTTPS's default,
    which a client may write or not. User information ("user:password@")
    never does, nor does a path or query a producer wrote after the host
    ("api.test/v1?token=...").
    """
    name = raw.rpartition("@")[2]
    for mark in "/?#":
        name = name.partition(mark)[0]
    name = name.lower()
    if name.startswith("["):
        # an IPv6 address: its colons are not the port's
        end = name.find("]") + 1 or len(name)
        address, port = name[:end], name[end:]
    else:
        address, colon, number = name.partition(":")
        address, port = address.rstrip("."), colon + number
    if port in (":80", ":443"):
        port = ""
    # never "", so that a cached name is always true
    name = address + port or "unknown"
    # odd long values are not kept: the cache must stay small
    if len(raw) <= _HOST_NAME_CHARS:
        if len(_HOST_NAMES) >= _HOST_NAMES_SIZE:
            _HOST_NAMES.clear()
        _HOST_NAMES[raw] = name
    return name


# Host value as sent -> the host it names
_HOST_NAMES: dict[str, str] = {}
_HOST_NAMES_SIZE = 1024
_HOST_NAME_CHARS = 256


def _without_path_parameters(pathname: str) -> str:
    """Return a pathname with the parameters after ";" cut from every segment.

    An encoded semicolon (%3B) is part of its segment's name and stays.
    """
    return "/".join(segment.partition(";")[0] for segment in pathname.split("/"))


def _initial_host(spec: dict) -> str:
    """Return the host named by an initial spec's first server, or localhost."""
    servers = spec.get("servers") or []
    url = servers[0].get("url", "") if servers and isinstance(servers[0], dict) else ""
    return urlsplit(url).netloc or "localhost"
