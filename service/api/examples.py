"""Examples for the OpenAPI document, so /docs shows a realistic value for every body.

``examples.json`` holds answers taken from a ledger loaded with ``exim-ledger demo`` (lists
cut short): ``schemas`` gives one example per component schema (the JSON bodies, request
and response), ``responses`` one per non-JSON media type of a route's 200 answer, and
``problems`` one answer per problem code shown (``service.api.operations`` puts each under
the statuses of the operations that can answer it). Tests validate each against its schema
and reproduce each problem, so they cannot drift from what the server says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("examples.json")


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SOURCE.read_text(encoding="utf-8"))
    return data


def add_examples(document: dict[str, Any]) -> None:
    """Set the examples on ``document``; a name or route it lacks is an error, not a gap."""
    examples = load()
    schemas = document["components"]["schemas"]
    for name, value in examples["schemas"].items():
        schemas[name]["examples"] = [value]
    for route, media in examples["responses"].items():
        method, path = route.split(" ", 1)
        content = document["paths"][path][method.lower()]["responses"]["200"]["content"]
        for media_type, value in media.items():
            content[media_type]["example"] = value
