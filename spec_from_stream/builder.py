"""The spec builder: exchanges in, counters kept, OpenAPI documents out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from spec_from_stream.exchange import validate

_ID = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)


@dataclass(frozen=True)
class Limits:
    """Caps that keep memory and the document bounded."""

    max_operations_per_host: int = 1000
    max_schema_depth: int = 12
    max_properties: int = 200
    max_distinct_values: int = 64
    max_hosts: int = 50


class SpecBuilder:
    """Temporary minimal builder with the final interface."""

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
        self._ops: dict[str, dict[str, dict[str, list[int]]]] = {}

    def add(self, exchange: dict) -> None:
        """Ingest one validated exchange (raises BadMessage on bad shape)."""
        validate(exchange)
        request = exchange["request"]
        host = request.get("host") or "unknown"
        path = unquote(request.get("pathname") or "/").rstrip("/") or "/"
        parts = [
            "{id}" if _ID.match(part) else part for part in path.split("/")
        ]
        template = "/".join(parts) or "/"
        key = f"{request['method']} {template}"
        status = int((exchange.get("response") or {}).get("statusCode", 200))
        statuses = self._ops.setdefault(host, {}).setdefault(key, {})
        statuses[str(status)] = [statuses.get(str(status), [0])[0] + 1]
        self.exchanges += 1

    def merge(self, other: SpecBuilder) -> None:
        """Add another builder's counters to this one."""
        for host, ops in other._ops.items():
            for key, statuses in ops.items():
                mine = self._ops.setdefault(host, {}).setdefault(key, {})
                for status, count in statuses.items():
                    mine[status] = [mine.get(status, [0])[0] + count[0]]
        self.exchanges += other.exchanges

    def to_state(self) -> dict:
        """Return the counters as JSON-serialisable data."""
        return {"version": 0, "exchanges": self.exchanges, "ops": self._ops}

    @classmethod
    def from_state(
        cls,
        state: dict,
        limits: Limits | None = None,
        *,
        initial_spec: dict | None = None,
        examples: bool = False,
    ) -> SpecBuilder:
        """Rebuild a builder from to_state() output."""
        builder = cls(limits, initial_spec=initial_spec, examples=examples)
        builder.exchanges = state["exchanges"]
        builder._ops = state["ops"]
        return builder

    def operation_count(self) -> int:
        """Return the number of operations over all hosts."""
        return sum(len(ops) for ops in self._ops.values())

    def render(self, openapi_version: str = "3.1") -> dict[str, dict]:
        """Return one OpenAPI document per host (key: the host as recorded)."""
        documents = {}
        for host, ops in self._ops.items():
            paths: dict[str, dict] = {}
            for index, (key, statuses) in enumerate(sorted(ops.items())):
                method, template = key.split(" ", 1)
                names = [p for p in template.split("/") if p == "{id}"]
                path = template
                params = []
                for number in range(len(names)):
                    path = path.replace("{id}", f"{{id{number}}}", 1)
                    params.append(
                        {
                            "name": f"id{number}",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    )
                operation = {
                    "operationId": f"op{index}",
                    "responses": {
                        status: {"description": "response"} for status in statuses
                    },
                }
                if params:
                    operation["parameters"] = params
                paths.setdefault(path, {})[method] = operation
            version = "3.1.0" if openapi_version.startswith("3.1") else "3.0.3"
            documents[host] = {
                "openapi": version,
                "info": {"title": host, "version": "1.0.0"},
                "paths": paths,
            }
        return documents
