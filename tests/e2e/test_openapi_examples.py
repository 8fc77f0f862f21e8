"""Every body in /openapi.json, request or response, comes with an example, and every
example is valid against the schema it illustrates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from service.settings import Settings

REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from service.api.app import create_app

    path: Path = tmp_path_factory.mktemp("openapi") / "unused.db"
    return create_app(Settings(database_url=f"sqlite:///{path}")).openapi()


def bodies(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(operation, media type, media object) of each request body and 2xx response."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            request = operation.get("requestBody", {}).get("content", {})
            found += [(f"{name} request", t, m) for t, m in request.items()]
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    found += [(f"{name} {status}", t, m)
                              for t, m in response.get("content", {}).items()]
    return found


def examples_of(document: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    values = [e["value"] for e in media.get("examples", {}).values()]
    if "example" in media:
        values.append(media["example"])
    ref = media.get("schema", {}).get("$ref", "")
    if ref.startswith(REF):
        values += document["components"]["schemas"][ref.removeprefix(REF)].get("examples", [])
    return values


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": document["components"]},
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_body_has_an_example(document: dict[str, Any]):
    missing = [f"{name} ({media_type})" for name, media_type, media in bodies(document)
               if not examples_of(document, media)]
    assert missing == []


def test_every_json_example_matches_its_schema(document: dict[str, Any]):
    checked = 0
    for name, media_type, media in bodies(document):
        if "json" not in media_type or media_type.endswith("ndjson"):
            continue
        check = validator(document, media["schema"])
        for value in examples_of(document, media):
            errors = [e.message for e in check.iter_errors(value)]
            assert errors == [], f"{name}: {errors[:3]}"
            checked += 1
    assert checked >= 25


def test_every_schema_example_matches_its_schema(document: dict[str, Any]):
    for name, schema in document["components"]["schemas"].items():
        check = validator(document, {"$ref": REF + name})
        for value in schema.get("examples", []):
            if isinstance(value, dict):
                errors = [e.message for e in check.iter_errors(value)]
                assert errors == [], f"{name}: {errors[:3]}"
