"""Schemathesis against a live server's own ``/openapi.json``: the checks, the budget, and
what a run found, counted per case."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from domain.chain import format_timestamp, parse_timestamp

# The feed never ends by design: a case of it would hold its connection until the timeout.
ENDLESS = "/v1/events/stream"
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance",
          "negative_data_rejection", "positive_data_acceptance", "unsupported_method",
          "allow_header_conformance", "schema_valid_input_passes_validation")
# A write's schema-valid body may still break a business rule (an embargoed buyer, a
# version conflict): its 422 with that rule's code is an answer, not a rejected input. The
# check below still fails any 422 validation_error of schema-valid input, writes included.
WRITE_REFUSALS = ["2xx", "401", "403", "404", "409", "422"]
CONSISTENCY = "/v1/audit/consistency"
AUTHORIZATIONS = "/v1/program/authorizations"


@schemathesis.hook
def map_case(ctx, case):  # type: ignore[no-untyped-def]
    """Rules between inputs that the descriptions state and OpenAPI cannot: a schema-valid
    case is made to keep them."""
    if case.meta is not None and case.meta.generation.mode.is_positive:
        _keep_the_stated_rules(case)
    return case


@schemathesis.hook
def before_add_examples(ctx, examples):  # type: ignore[no-untyped-def]
    """The examples phase's cases (built from the schemas' examples, the missing fields
    filled in) pass no ``map_case``: they keep the same rules here."""
    for case in examples:
        _keep_the_stated_rules(case)


def _keep_the_stated_rules(case) -> None:  # type: ignore[no-untyped-def]
    _first_at_most_second(case)
    _expires_after_it_takes_effect(case)
    _if_match_agrees_with_expected_version(case)
    case.body = _integers_spelled_as_integers(case.body)
    case.body = _not_in_the_future(case.body)
    case.body = _a_line_per_eccn(case.body)


def _not_in_the_future(value: object) -> object:
    """SPEC: an occurred_at more than 5 minutes ahead of the server's clock is a 422; no
    schema can say so. A schema-valid one from the future becomes the present."""
    if isinstance(value, list):
        return [_not_in_the_future(v) for v in value]
    if not isinstance(value, dict):
        return value
    moment = value.get("occurred_at")
    try:
        ahead = isinstance(moment, str) and parse_timestamp(moment) > datetime.now(UTC)
    except (ValueError, OverflowError):
        ahead = False
    now = format_timestamp(datetime.now(UTC)) if ahead else moment
    return {k: now if k == "occurred_at" else _not_in_the_future(v) for k, v in value.items()}


def _a_line_per_eccn(value: object) -> object:
    """SPEC: ECCNs compare without regard to case, so a list's are unique so compared
    (``uniqueItems`` compares them as written); v3: a license approval has exactly one line
    per ECCN of its ``eccns`` and none other (its schema says so in words). A schema-valid
    list keeps the first of each ECCN, and the lines are one per ECCN: the first given for
    it, else one unit worth 1.00."""
    if isinstance(value, list):
        return [_a_line_per_eccn(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: _a_line_per_eccn(v) for k, v in value.items()}
    eccns = value.get("eccns")
    if isinstance(eccns, list) and all(isinstance(e, str) for e in eccns):
        firsts: dict[str, str] = {}
        for eccn in eccns:
            firsts.setdefault(eccn.upper(), eccn)
        value["eccns"] = eccns = list(firsts.values())
        lines = value.get("lines")
        if isinstance(lines, list) and all(isinstance(line, dict) for line in lines):
            given: dict[str, dict[str, object]] = {}
            for line in lines:
                given.setdefault(str(line.get("eccn")).upper(), line)
            value["lines"] = [{**given.get(e.upper(), {"quantity": 1, "value": "1.00"}),
                               "eccn": e} for e in eccns]
    return value


def _integers_spelled_as_integers(value: object) -> object:
    """SPEC: integers are JSON integers, and 3.0 is refused; JSON Schema cannot tell 3.0
    from 3, and schemathesis sends both for an integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integers_spelled_as_integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integers_spelled_as_integers(v) for v in value]
    return value


def _first_at_most_second(case) -> None:  # type: ignore[no-untyped-def]
    query = case.query if case.operation.path == CONSISTENCY else None
    try:
        first, second = int(query["first"]), int(query["second"])
    except (KeyError, TypeError, ValueError):
        return
    if first > second:
        query["first"], query["second"] = query["second"], query["first"]


def _expires_after_it_takes_effect(case) -> None:  # type: ignore[no-untyped-def]
    """SPEC v3: a program authorization's ``expires_on`` is after its ``effective_from``
    (its schema says so in words: JSON Schema cannot compare two fields)."""
    body = case.body if case.operation.path == AUTHORIZATIONS else None
    try:
        start = date.fromisoformat(body["effective_from"])  # type: ignore[index]
        end = date.fromisoformat(body["expires_on"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return
    if end < start:
        body["effective_from"], body["expires_on"] = body["expires_on"], body["effective_from"]
    elif end == start and start < date.max:
        body["expires_on"] = (start + timedelta(days=1)).isoformat()
    elif end == start:
        body["effective_from"] = (start - timedelta(days=1)).isoformat()


def _if_match_agrees_with_expected_version(case) -> None:  # type: ignore[no-untyped-def]
    headers, body = case.headers or {}, case.body
    if_match = next((v for k, v in headers.items() if k.lower() == "if-match"), None)
    if isinstance(body, dict) and body.get("expected_version") is not None and if_match:
        body["expected_version"] = int(str(if_match).strip('"'))


@schemathesis.check
def schema_valid_input_passes_validation(ctx, response, case):  # type: ignore[no-untyped-def]
    """Input generated from the schema is never refused as ``validation_error``."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        code = json.loads(response.content).get("code")
    except (ValueError, AttributeError):
        code = None
    if code == "validation_error":
        raise AssertionError(f"schema-valid input refused: {response.content[:300]!r}")
    return None


def config(examples: int, seed: int, coverage: bool) -> SchemathesisConfig:
    enabled = "\n".join(f"{name}.enabled = true" for name in CHECKS)
    return SchemathesisConfig.from_str(f"""
seed = {seed}
# Generation, not the API: a path parameter's strings are often unusable in a URL.
suppress-health-check = ["filter_too_much", "too_slow"]
[cache]
enabled = false  # every run the same cases, and nothing written into the checkout
[phases.coverage]
enabled = {str(coverage).lower()}
[generation]
deterministic = true
max-examples = {examples}
[checks]
enabled = false
{enabled}
[[operations]]
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = {json.dumps(WRITE_REFUSALS)}
""")


@dataclass
class Outcome:
    cases: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"{n} x {key}\n    {self.examples[key]}" for key, n in self.failures.items()]
        return "\n".join([*lines, *self.errors])


def run(url: str, secret: str, examples: int, *, coverage: bool, seed: int = 1) -> Outcome:
    """Every operation but the endless feed, as the key ``secret``; each case's checks. The
    coverage phase adds every boundary and enum value of every parameter and field."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json",
                                           config=config(examples, seed, coverage))
    schema = schema.exclude(path=ENDLESS)
    schema.config.update(headers={"Authorization": f"Bearer {secret}"}, request_timeout=30)
    outcome = Outcome()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            _record(outcome, event)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            outcome.errors.append(repr(event))
    return outcome


def _record(outcome: Outcome, event: events.ScenarioFinished) -> None:
    recorder = event.recorder
    outcome.cases += len(recorder.cases)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.failure_info is None:
                continue
            case = recorder.cases[case_id].value
            key = f"{check.name}: {case.method} {case.path}"
            outcome.failures[key] += 1
            response = recorder.interactions[case_id].response
            outcome.examples.setdefault(key, (
                f"path={case.path_parameters} query={case.query} body={case.body!r:.300} -> "
                f"{response.status_code if response else None} "
                f"{response.content[:300] if response else b''!r}: "
                f"{check.failure_info.failure.title}"))
