"""Rendering routes and their counters as one OpenAPI 3.1 or 3.0 document."""

from __future__ import annotations

import copy
import re
from http import HTTPStatus

from spec_from_stream.evidence import (
    RequestEvidence,
    drop_problem_members,
    is_problem_media,
)
from spec_from_stream.formats import is_prefix_segment
from spec_from_stream.names import camel_case, looks_like_value, singular
from spec_from_stream.operations import (
    DOCUMENTED_HEADERS,
    BodySummary,
    Operation,
    ResponseSummary,
)
from spec_from_stream.paths import PathParam, Route
from spec_from_stream.schema import SchemaSummary
from spec_from_stream.security import scheme_name, scheme_object

_VERBS = {
    "get": "Get",
    "put": "Replace",
    "post": "Create",
    "patch": "Update",
    "delete": "Delete",
    "head": "Check",
    "options": "Options for",
    "trace": "Trace",
    "connect": "Connect to",
}
# methods that ask about a whole collection when sent to it ("Check users")
_ON_WHOLE_COLLECTIONS = frozenset(("head", "options", "trace"))
METHOD_ORDER = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


# statuses that deny an operation exists: 405 Method Not Allowed, 501 Not
# Implemented; an operation that only ever answered these is left out
NOT_AN_OPERATION = frozenset((405, 501))
# a path of literals that only ever answered 404 Not Found is a probe (a
# scanner trying /.env or /wp-login.php), not an operation
NOT_FOUND = frozenset((404,))


def documented(route: Route, method: str) -> bool:
    """Tell whether an operation of a route belongs in the document."""
    if method not in METHOD_ORDER:
        return False
    statuses = set(route.node.ops[method].responses)
    if not statuses:
        return True
    if statuses <= NOT_AN_OPERATION:
        # the server said the method does not exist on this path
        return False
    return bool(route.params) or not statuses <= NOT_FOUND


def render_document(
    host: str,
    routes: list[Route],
    *,
    openapi: str = "3.1",
    examples: bool = False,
    exchanges: int = 0,
    initial_spec: dict | None = None,
) -> dict:
    """Return the OpenAPI document of one host from its resolved routes."""
    version = "3.0" if str(openapi).startswith("3.0") else "3.1"
    document = _start(host, version, exchanges, initial_spec)
    paths = document["paths"]
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    known = _initial_templates(initial_spec)
    shapes = _initial_shapes(initial_spec)
    pools = error_pools(routes)
    evidence = request_evidence(routes)
    names = _scheme_names(routes, schemes)
    used_ids = {
        operation.get("operationId")
        for item in paths.values()
        if isinstance(item, dict)
        for operation in item.values()
        if isinstance(operation, dict)
    }
    for route in routes:
        template = route.template
        # the initial spec's spelling of the same path (/users/{id} for the
        # traffic's /users/{userId}): OpenAPI allows only one of the two
        renames: dict[str, str] = {}
        same = shapes.get(_shape(template))
        if same is not None and same[0] != template:
            template = same[0]
            names_in_traffic = [param.name for param in route.params]
            renames = dict(zip(names_in_traffic, same[1], strict=False))
        for method in _ordered(route.node.ops):
            # Limitation: an operation of the initial spec is kept as written;
            # what the traffic shows about it is not merged into it
            if _covered(known, method, route.segments):
                continue
            if not documented(route, method):
                continue
            operation = route.node.ops[method]
            operation_id = _unique(_operation_id(method, route), used_ids)
            rendered = {"operationId": operation_id}
            rendered.update(
                _operation(method, route, operation, version, examples, pools, evidence)
            )
            if operation.security:
                rendered["security"] = _security(operation, names)
            for key in operation.security:
                schemes.setdefault(names[key], scheme_object(key))
            for parameter in rendered.get("parameters", ()):
                if parameter["in"] == "path" and parameter["name"] in renames:
                    parameter["name"] = renames[parameter["name"]]
            paths.setdefault(template, {})[method] = rendered
    if not schemes:
        del document["components"]["securitySchemes"]
    if not document["components"]:
        del document["components"]
    return document


def _start(host: str, version: str, exchanges: int, initial: dict | None) -> dict:
    """Return the document skeleton, or a copy of the initial spec to extend."""
    if initial:
        document = copy.deepcopy(initial)
        document["openapi"] = "3.1.0" if version == "3.1" else "3.0.3"
        document.setdefault("info", {"title": f"API at {host}", "version": "1.0.0"})
        document.setdefault("paths", {})
        return document
    noun = "exchange" if exchanges == 1 else "exchanges"
    return {
        "openapi": "3.1.0" if version == "3.1" else "3.0.3",
        "info": {
            "title": f"API at {host}",
            "version": "1.0.0",
            "description": f"Inferred from {exchanges} recorded HTTP {noun}.",
        },
        "paths": {},
    }


def _initial_templates(initial: dict | None) -> list[tuple[str, re.Pattern]]:
    """Return (method, pattern) of every operation the initial spec defines."""
    found = []
    for path, item in ((initial or {}).get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        parts = []
        for segment in path.strip("/").split("/"):
            if "{" in segment:
                parts.append(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(segment)))
            else:
                parts.append(re.escape(segment))
        pattern = re.compile("/".join(parts))
        for method in item:
            if method in METHOD_ORDER:
                found.append((method, pattern))
    return found


# a parameter in a template segment, whole ("{jobId}") or before a suffix
_PARAM_NAME = re.compile(r"\{[^}]*\}")
# a method after a colon at the end of a literal segment ("jobs:batchGet")
_METHOD_SUFFIX = re.compile(r":[A-Za-z][A-Za-z0-9]*")


def _shape(template: str) -> tuple[str, ...]:
    """A path template with its parameter names left out: /users/{}:cancel ."""
    return tuple(
        _PARAM_NAME.sub("{}", segment) for segment in template.strip("/").split("/")
    )


def _initial_shapes(initial: dict | None) -> dict[tuple[str, ...], tuple[str, list]]:
    """The initial spec's templates by shape, with their parameter names."""
    shapes: dict[tuple[str, ...], tuple[str, list]] = {}
    for path in (initial or {}).get("paths") or {}:
        names = [name[1:-1] for name in _PARAM_NAME.findall(path)]
        if names:
            shapes.setdefault(_shape(path), (path, names))
    return shapes


def _covered(known: list[tuple[str, re.Pattern]], method: str, segments: list) -> bool:
    """Tell whether the initial spec already documents this operation."""
    if not known:
        return False
    concrete = "/".join(segments)
    return any(m == method and p.fullmatch(concrete) for m, p in known)


def _ordered(ops: dict) -> list[str]:
    """Return the methods OpenAPI can describe, in the conventional order.

    Limitation: CONNECT has no place in an OpenAPI path item and is left out.
    """
    return sorted((m for m in ops if m in METHOD_ORDER), key=METHOD_ORDER.index)


def _operation(
    method: str,
    route: Route,
    operation: Operation,
    version: str,
    examples: bool,
    pools: dict[int, SchemaSummary],
    evidence: RequestEvidence,
) -> dict:
    """Render one operation object."""
    rendered: dict = {"summary": _summary(method, route), "tags": [_tag(route)]}
    parameters = [_path_parameter(param) for param in route.params]
    side, requests = operation.request_side()
    for name in sorted(side.query):
        if looks_like_value(name):
            # a name that is data (an email sent as a key) is personal data
            continue
        query = side.query[name]
        schema = query.schema.render(version, examples, None, name)
        parameter: dict = {"name": name, "in": "query"}
        if query.count >= requests:
            parameter["required"] = True
        if query.repeated:
            parameter["schema"] = {"type": "array", "items": schema}
            parameter["style"] = "form"
            parameter["explode"] = True
        else:
            parameter["schema"] = schema
        parameters.append(parameter)
    if parameters:
        rendered["parameters"] = parameters
    if side.requests:
        content = {
            media: {"schema": summary.render(version, examples)}
            for media, summary in sorted(side.requests.items())
        }
        body: dict = {"content": content}
        if side.with_body >= requests:
            body["required"] = True
        rendered["requestBody"] = body
    rendered["responses"] = _responses(operation, version, examples, pools, evidence)
    return rendered


def request_evidence(routes: list[Route]) -> RequestEvidence:
    """Collect the object shapes of a host's whole request bodies."""
    evidence = RequestEvidence()
    # sorted walks keep the shapes in one order however the counters were merged
    for route in sorted(routes, key=lambda route: route.template):
        for method in sorted(route.node.ops):
            operation = route.node.ops[method]
            for media in sorted(operation.requests):
                schema = operation.requests[media].schema
                if schema is not None:
                    evidence.add_body(method, schema)
    return evidence


def error_pools(routes: list[Route]) -> dict[int, SchemaSummary]:
    """Pool the error bodies of a host that share one shape.

    An API answers errors in one format across its operations, but each
    operation sees few errors: pooled, the samples show which fields the
    format really always has. Returns the pooled summary by id() of each
    member body summary.
    """
    groups: list[tuple[str, set, list[BodySummary]]] = []
    # sorted walks keep the grouping the same however the counters were merged
    for route in routes:
        for method in sorted(route.node.ops):
            operation = route.node.ops[method]
            for status in sorted(operation.responses):
                if status < 400:
                    continue
                result = operation.responses[status]
                for media in sorted(result.media):
                    summary = result.media[media]
                    schema = summary.schema
                    if schema is None or schema.main_type() != "object":
                        continue
                    keys = set(schema.props)
                    for group_media, group_keys, members in groups:
                        if group_media == media and _overlap(keys, group_keys):
                            group_keys |= keys
                            members.append(summary)
                            break
                    else:
                        groups.append((media, keys, [summary]))
    pools: dict[int, SchemaSummary] = {}
    for _, _, members in groups:
        if len(members) < 2:
            continue
        pooled = SchemaSummary()
        for summary in members:
            pooled.merge(summary.schema)
        for summary in members:
            pools[id(summary)] = pooled
    return pools


def _overlap(a: set, b: set) -> bool:
    """Tell whether two key sets share at least half of their union."""
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= 0.5


def _responses(
    operation: Operation,
    version: str,
    examples: bool,
    pools: dict[int, SchemaSummary],
    evidence: RequestEvidence,
) -> dict:
    """Render the responses object: one entry per status code seen."""
    responses: dict = {}
    for status in sorted(operation.responses):
        result = operation.responses[status]
        entry: dict = {"description": _reason(status)}
        if result.media:
            content = {}
            for media, summary in sorted(result.media.items()):
                pooled = pools.get(id(summary))
                if pooled is not None:
                    schema = pooled.render(version, examples, evidence)
                else:
                    schema = summary.render(version, examples, evidence)
                if is_problem_media(media):
                    drop_problem_members(schema)
                content[media] = {"schema": schema}
            entry["content"] = content
        if result.headers:
            entry["headers"] = _response_headers(result)
        responses[str(status)] = entry
    if not responses:
        responses["default"] = {"description": "No response was recorded."}
    return responses


def _response_headers(result: ResponseSummary) -> dict:
    """Render the documented headers of one status, required when always sent."""
    headers = {}
    for name in sorted(result.headers):
        present, whole = result.headers[name]
        schema: dict = {"type": "string"}
        if name == "retry-after" and whole == present:
            # seconds to wait; the other form is an HTTP date
            schema = {"type": "integer"}
        elif name in ("location", "content-location"):
            schema["format"] = "uri-reference"
        header: dict = {"schema": schema}
        if present >= result.count:
            header["required"] = True
        headers[DOCUMENTED_HEADERS[name]] = header
    return headers


def _scheme_names(routes: list[Route], schemes: dict) -> dict[str, str]:
    """Name every security scheme the traffic shows, one name per scheme.

    Two keys may make the same name (`api_key` and `api-key` in the query
    both make queryApiKey), and an initial spec may use a name for a scheme
    of its own: the second one gets a number (queryApiKey2).
    """
    keys = sorted(
        {
            key
            for route in routes
            for op in route.node.ops.values()
            for key in op.security
        }
    )
    names: dict[str, str] = {}
    taken = dict(schemes)
    for key in keys:
        base = name = scheme_name(key)
        wanted = scheme_object(key)
        number = 2
        while name in taken and taken[name] != wanted:
            name = f"{base}{number}"
            number += 1
        taken[name] = wanted
        names[key] = name
    return names


def _security(operation: Operation, names: dict[str, str]) -> list[dict]:
    """Render the security requirements seen on an operation's requests."""
    requirements = [{names[key]: []} for key in sorted(operation.security)]
    # some calls went without credentials: authentication is optional there
    if max(operation.security.values()) < operation.count:
        requirements.append({})
    return requirements


def _reason(status: int) -> str:
    """Return the standard reason phrase of a status code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def _path_parameter(param: PathParam) -> dict:
    """Render one path parameter with the type its values showed."""
    kinds = {kind for kind in param.kinds if kind}
    schema: dict = {"type": "string"}
    if kinds and kinds <= {"integer"}:
        schema = {"type": "integer"}
    elif len(kinds) == 1:
        formats = {
            "uuid": "uuid",
            "date": "date",
            "datetime": "date-time",
            "email": "email",
        }
        fmt = formats.get(next(iter(kinds)))
        if fmt:
            schema["format"] = fmt
    return {"name": param.name, "in": "path", "required": True, "schema": schema}


def _split_segment(segment: str) -> tuple[str, str]:
    """Split a template segment into its base and its suffix (":cancel", ".csv").

    A parameter's segment may end in a method or an extension, a literal
    segment in a method ("jobs:batchGet").
    """
    if not segment.startswith("{"):
        base, colon, method = segment.rpartition(":")
        if base and _METHOD_SUFFIX.fullmatch(colon + method):
            return base, colon + method
        return segment, ""
    name, _, suffix = segment.partition("}")
    return name + "}", suffix


def _resource(route: Route) -> tuple[str, bool]:
    """Return the last literal segment and whether the path ends in a parameter."""
    bases = [_split_segment(segment)[0] for segment in route.segments]
    literals = [base for base in bases if not base.startswith("{")]
    item = bool(bases) and bases[-1].startswith("{")
    return (literals[-1] if literals else "root"), item


def _words(name: str) -> str:
    """Return a segment or a method name as lower-case words."""
    words = re.sub(r"[-_.:]+", " ", name).strip()
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", words).lower()


def _summary(method: str, route: Route) -> str:
    """Return a short summary such as "Get user", "List users" or "Cancel job"."""
    resource, item = _resource(route)
    words = _words(resource)
    suffix = _split_segment(route.segments[-1])[1] if route.segments else ""
    if suffix.startswith(":"):
        # a custom method names its own action, on one item or a collection
        action = _words(suffix)
        target = singular(words) if item else words
        return f"{action[:1].upper()}{action[1:]} {target}"
    if suffix:
        return f"{_summary_of(method, words, item)} as {suffix[1:].upper()}"
    return _summary_of(method, words, item)


def _summary_of(method: str, words: str, item: bool) -> str:
    """Return the summary of a method on a resource (item: one of a collection)."""
    if method == "get" and not item:
        return f"List {words}" if words.endswith("s") else f"Get {words}"
    if item or method not in _ON_WHOLE_COLLECTIONS:
        # a create, update or delete acts on one resource, in and out of
        # collections
        words = singular(words)
    return f"{_VERBS.get(method, method.title())} {words}"


def _tag(route: Route) -> str:
    """Return the tag of a route: its first resource segment."""
    for segment in route.segments:
        if segment.startswith("{"):
            break
        if not is_prefix_segment(segment):
            return segment
    return "root"


def _operation_id(method: str, route: Route) -> str:
    """Return an operationId such as getUsersByUserId."""
    parts = [method]
    for segment in route.segments:
        base, suffix = _split_segment(segment)
        if base.startswith("{"):
            name = base[1:-1]
            parts.append("By" + name[:1].upper() + name[1:])
        else:
            word = camel_case(base)
            parts.append(word[:1].upper() + word[1:])
        if suffix:
            word = camel_case(suffix)
            parts.append(word[:1].upper() + word[1:])
    return "".join(parts)


def _unique(name: str, used: set) -> str:
    """Return name, numbered if it is already taken, and mark it taken."""
    candidate = name
    number = 2
    while candidate in used:
        candidate = f"{name}{number}"
        number += 1
    used.add(candidate)
    return candidate
