"""Each event payload's shape and refusals are written once, in ``domain.events``; the API's
request models, its OpenAPI document, the client, ``docs/domain.md``, SPEC and the rules
the domain runs agree with that table."""

from __future__ import annotations

import ast
import dataclasses
import re
import typing
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from domain import deal as deal_module
from domain.events import EVENT_TYPES, ON_A_DEAL, EventType
from service.api.app import create_app
from service.ledger import payloads as schemas
from service.settings import Settings
from tools import gen_domain_docs

ROOT = Path(__file__).resolve().parents[2]
DEAL_EVENTS = [t for t in EVENT_TYPES.values() if t.stream == "deal"]
ALL = list(EVENT_TYPES.values())
CODE = re.compile(r"[a-z]+(?:_[a-z]+)+")
# before the rules: the schema, then (on a deal) the deal and its expected version
REQUEST_CODES = ("validation_error", "not_found", "version_conflict")

Shape = dict[str, tuple[bool, "Shape | None"]]


def ids(t: EventType) -> str:
    return t.name


# a program-stream event's request body, and the path it is posted to; an approval and a
# withdrawal name a pending proposal (their data is made of it, not of their body)
PROGRAM_POSTS = {"PolicyProposed": (schemas.PolicyProposalBody, "/v1/policies"),
                 "ProgramAuthorized": (schemas.ProgramAuthorizedData, "/v1/program/authorizations"),
                 "ProgramSuspended": (schemas.ProgramSuspendedData, "/v1/program/suspensions")}
POSTED = [t for t in ALL if t.stream == "deal" or t.name in PROGRAM_POSTS]
# what an approval adds to the proposal's data
APPROVAL_KEYS = {"authority", "proposed_by", "proposal_hash", "comment"}


def request_model(t: EventType) -> type[BaseModel]:
    return PROGRAM_POSTS[t.name][0] if t.name in PROGRAM_POSTS else schemas.EVENT_DATA[t.name]


# -- shapes ----------------------------------------------------------------------------------


def typeddict_shape(td: type) -> Shape:
    """Each key: whether it is required, and the shape of the TypedDict it holds, if any."""
    hints = typing.get_type_hints(td)
    required: frozenset[str] = td.__required_keys__  # type: ignore[attr-defined]
    return {key: (key in required, _nested_typeddict(hint)) for key, hint in hints.items()}


def _nested_typeddict(hint: Any) -> Shape | None:
    if typing.is_typeddict(hint):
        return typeddict_shape(hint)
    return next((s for arg in typing.get_args(hint) if (s := _nested_typeddict(arg))), None)


def model_shape(model: type[BaseModel]) -> Shape:
    return {name: (field.is_required(), _nested_model(field.annotation))
            for name, field in model.model_fields.items()}


def _nested_model(hint: Any) -> Shape | None:
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return model_shape(hint)
    return next((s for arg in typing.get_args(hint) if (s := _nested_model(arg))), None)


def schema_shape(schema: dict[str, Any], components: dict[str, Any]) -> Shape:
    def nested(prop: dict[str, Any]) -> Shape | None:
        ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
        for alternative in prop.get("anyOf", []):
            ref = ref or alternative.get("$ref") or alternative.get("items", {}).get("$ref")
        return schema_shape(components[ref.rsplit("/", 1)[1]], components) if ref else None

    required = set(schema.get("required", []))
    return {name: (name in required, nested(prop))
            for name, prop in schema["properties"].items()}


# -- the table itself ------------------------------------------------------------------------


def test_the_table_names_each_payload_after_its_event():
    for name, t in EVENT_TYPES.items():
        assert t.name == name
        assert t.payload.__name__ == f"{name}Data"
        assert typing.is_typeddict(t.payload)
        assert t.description.strip() and "\n" not in t.description
        assert len(set(t.codes)) == len(t.codes), f"{name} lists a code twice"


def test_the_deal_stream_holds_every_event_type_of_the_deal_and_the_api():
    assert {t.name for t in DEAL_EVENTS} == set(deal_module.EVENT_TYPES)
    assert {t.name for t in DEAL_EVENTS} == set(schemas.EVENT_DATA)
    assert [t.name for t in ALL if t.stream == "program"] == [
        "PolicyProposed", "PolicyAdopted", "PolicyWithdrawn", "ProgramAuthorized",
        "ProgramSuspended"]


@pytest.mark.parametrize("t", [t for t in DEAL_EVENTS if t.name != "DealApplied"], ids=ids)
def test_an_event_on_a_deal_is_first_checked_like_every_other(t: EventType):
    assert t.codes[:len(ON_A_DEAL)] == ON_A_DEAL


# -- the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("t", POSTED, ids=ids)
def test_the_request_model_has_the_payload_s_shape(t: EventType):
    model = request_model(t)
    assert model.model_config.get("extra") == "forbid"
    assert model_shape(model) == posted_shape(t)


def posted_shape(t: EventType) -> Shape:
    """The payload's shape as a new post must give it: (v3) some fields events stored
    before may lack are required now."""
    shape = typeddict_shape(t.payload)
    for name in t.required_in_posts:
        shape[name] = (True, shape[name][1])
    return shape


def test_an_adoption_records_the_proposed_version_and_who_proposed_it():
    adopted = typeddict_shape(EVENT_TYPES["PolicyAdopted"].payload)
    version = model_shape(schemas.PolicyVersionBody)
    assert {k: v for k, v in adopted.items() if k not in APPROVAL_KEYS} == version
    assert all(not required for key, (required, _) in adopted.items() if key in APPROVAL_KEYS)
    proposed = typeddict_shape(EVENT_TYPES["PolicyProposed"].payload)
    assert set(proposed) <= set(adopted)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Building the document opens no database."""
    path = tmp_path_factory.mktemp("openapi") / "unused.db"
    doc: dict[str, Any] = create_app(Settings(database_url=f"sqlite:///{path}")).openapi()
    return doc


def body_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    media = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    schema: dict[str, Any] = document["components"]["schemas"][
        media["schema"]["$ref"].rsplit("/", 1)[1]]
    return schema


@pytest.mark.parametrize("t", POSTED, ids=ids)
def test_the_openapi_schema_has_the_payload_s_shape_and_description(
        document: dict[str, Any], t: EventType):
    components = document["components"]["schemas"]
    schema = (body_schema(document, PROGRAM_POSTS[t.name][1]) if t.stream == "program"
              else components[f"{t.name}Data"])
    assert schema_shape(schema, components) == posted_shape(t)
    assert schema["description"].startswith(t.description)


@pytest.mark.parametrize("t", DEAL_EVENTS, ids=ids)
def test_the_openapi_document_describes_each_post_of_an_event_from_the_table(
        document: dict[str, Any], t: EventType):
    components = document["components"]["schemas"]
    variants = [f"{t.name}BatchItem"] + [f"{t.name}Event"] * (t.name != "DealApplied")
    for variant in variants:
        assert components[variant]["description"] == t.doc
        for code in t.codes:
            assert f"{code}," in t.doc or f"{code}." in t.doc


def test_the_application_post_has_the_deal_applied_shape_and_when_it_occurred(
        document: dict[str, Any]):
    schema = body_schema(document, "/v1/deals")
    shape = schema_shape(schema, document["components"]["schemas"])
    assert shape.pop("occurred_at") == (False, None)
    assert shape == posted_shape(EVENT_TYPES["DealApplied"])


# -- the client ------------------------------------------------------------------------------


def client_models() -> Iterator[type]:
    from exim_ledger_client import models

    for value in vars(models).values():
        if dataclasses.is_dataclass(value) and isinstance(value, type):
            yield value


def test_the_client_s_results_repeat_no_payload_but_the_policy_s():
    """Payloads are posted as the client's ``TypedDict``s (below); of its result
    dataclasses only ``Policy`` reads one back."""
    repeats = {(model.__name__, t.name) for model in client_models() for t in ALL
               if set(typeddict_shape(t.payload)) <= {f.name for f in dataclasses.fields(model)}}
    # a license read back (GET /v1/licenses/{number}) names the request it decided
    assert repeats == {("Policy", "PolicyAdopted"), ("Policy", "PolicyProposed"),
                       ("Policy", "PolicyWithdrawn"), ("License", "LicenseRequested")}


def test_the_client_types_each_payload_a_deal_event_may_be_posted_with():
    from exim_ledger_client import payloads

    appendable = [t.name for t in DEAL_EVENTS if t.name != "DealApplied"]
    assert set(payloads.PAYLOADS) == {t.name for t in DEAL_EVENTS}
    assert list(typing.get_args(payloads.EventType)) == appendable
    assert {td.__name__ for td in typing.get_args(payloads.EventPayload)} == {
        f"{name}Data" for name in appendable}
    for name, td in payloads.PAYLOADS.items():
        assert td.__name__ == f"{name}Data" and typing.is_typeddict(td)


@pytest.mark.parametrize("t", DEAL_EVENTS, ids=ids)
def test_the_client_s_payload_has_the_openapi_request_schema_s_shape(
        document: dict[str, Any], t: EventType):
    """The client mirrors each request schema on purpose (it imports nothing of the
    service): the same fields, as required, at every depth."""
    from exim_ledger_client import payloads

    components = document["components"]["schemas"]
    shape = schema_shape(components[f"{t.name}Data"], components)
    assert typeddict_shape(payloads.PAYLOADS[t.name]) == shape


def test_the_client_s_program_payloads_have_their_posts_shapes(document: dict[str, Any]):
    from exim_ledger_client import payloads

    components = document["components"]["schemas"]
    proposal = schema_shape(body_schema(document, "/v1/policies"), components)
    assert proposal.pop("authority") == (True, None)  # propose_policy(version, authority)
    assert typeddict_shape(payloads.PolicyVersionData) == proposal
    for td, path in [(payloads.ProgramAuthorizedData, "/v1/program/authorizations"),
                     (payloads.ProgramSuspendedData, "/v1/program/suspensions")]:
        assert typeddict_shape(td) == schema_shape(body_schema(document, path), components)


def test_the_client_s_policy_has_the_adopted_payload_and_who_adopted_it():
    from exim_ledger_client.models import Policy

    fields = {f.name: typing.get_type_hints(Policy)[f.name] for f in dataclasses.fields(Policy)}
    adopted = EVENT_TYPES["PolicyAdopted"].payload
    payload = typing.get_type_hints(adopted)
    assert set(fields) - set(payload) == {"adopted_at", "adopted_by", "hash", "position"}
    for key, hint in payload.items():  # stored with its defaults: every key comes back
        got = fields[key]
        absent = key in APPROVAL_KEYS  # only an approved proposal has them
        assert got == hint or (hint is str and got is date) or (absent and got == hint | None), \
            f"Policy.{key}: {got} for {hint}"


# -- the docs --------------------------------------------------------------------------------


def test_the_domain_docs_list_each_event_s_codes_in_the_table_s_order():
    text = gen_domain_docs.DOC.read_text(encoding="utf-8")
    assert gen_domain_docs.render(text) == text, "run python tools/gen_domain_docs.py"
    for t in ALL:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{t.name}` |"))
        assert re.findall(r"`([a-z_]+)`", row.rsplit("|", 2)[1]) == list(t.codes)


# -- the domain and SPEC ---------------------------------------------------------------------


def string_constants(paths: list[Path]) -> set[str]:
    return {node.value for path in paths
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_every_code_in_the_table_is_one_the_ledger_raises():
    sources = [p for folder in ("domain", "service") for p in (ROOT / folder).rglob("*.py")
               if p != ROOT / "domain" / "events.py"]
    missing = {code for t in ALL for code in t.codes} - string_constants(sources)
    assert not missing


def spec_rows() -> dict[str, tuple[str, str]]:
    """SPEC §2's table: each event type's data and rules cells."""
    rows = {}
    for line in (ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        name = re.match(r"`([A-Za-z]+)`", cells[0]) if len(cells) == 3 else None
        if name and name[1] in EVENT_TYPES:
            rows[name[1]] = (cells[1], cells[2])
    return rows


ALL_CODES = {code for t in ALL for code in t.codes}
# codes a SPEC row names that its event does not answer with
NOT_ITS_OWN = {"DealAmended": {"duplicate_application", "exporter_not_us",
                               "amount_exceeds_board_approval"},
               # v3: "LicenseRequested loses already_financed"
               "LicenseRequested": {"already_financed"}}


def spec_codes(name: str) -> list[str]:
    rules, inherits, _ = spec_rows()[name][1].partition("then every `DealApplied` rule")
    named = [c for c in re.findall(r"`([a-z_]+)`", rules) if CODE.fullmatch(c)]
    unknown = {c for c in named if c not in ALL_CODES} - _words_that_are_not_codes()
    assert not unknown, f"SPEC names {unknown} for {name}: a code missing from the table?"
    codes = [c for c in named if c in ALL_CODES and c not in NOT_ITS_OWN.get(name, ())]
    if inherits:  # "... except `duplicate_application` and `exporter_not_us`"
        codes += [c for c in spec_codes("DealApplied") if c not in NOT_ITS_OWN[name]]
    return list(dict.fromkeys(codes))


def _words_that_are_not_codes() -> set[str]:
    """Field names, enum values and figures SPEC's rules cells mention."""
    keys = {k for t in ALL for k in typing.get_type_hints(t.payload)}
    return keys | {"loan_guarantee", "direct_loan", "claims_paid", "occurred_at"}


def is_subsequence(part: list[str], whole: tuple[str, ...]) -> bool:
    rest = iter(whole)
    return all(code in rest for code in part)


# v3 types and fields SPEC gives in its prose, not in its table
IN_PROSE = {"CongressionalNotified", "PartyScreened"}
PROSE_FIELDS = {"EventReversed": {"return_reference"}, "DealApplied": {"end_user"},
                "CommerceLicenseApproved": {"consignee", "lines"}}
TABLED = [t for t in DEAL_EVENTS if t.name not in IN_PROSE]


@pytest.mark.parametrize("t", TABLED, ids=ids)
def test_the_table_holds_the_codes_spec_lists_for_the_event_in_spec_s_order(t: EventType):
    assert is_subsequence(spec_codes(t.name), t.codes), (spec_codes(t.name), t.codes)


def test_the_table_holds_spec_s_v3_rule_order_for_money_leaving_exim():
    text = (ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8")
    section = text[text.index("**Rule order for money leaving EXIM (v3).**"):]
    financed, disbursed = section.split("`FundsDisbursed`:", 1)
    for name, part in (("DealFinanced", financed), ("FundsDisbursed", disbursed)):
        named = [c for c in re.findall(r"`([a-z_]+)`", part.split("\n\n")[0])
                 if CODE.fullmatch(c)]
        assert is_subsequence(named, EVENT_TYPES[name].codes), (name, named)


@pytest.mark.parametrize("t", TABLED, ids=ids)
def test_the_payload_has_the_fields_spec_lists_for_the_event(t: EventType):
    data = spec_rows()[t.name][0]
    named = set(re.findall(r"`([a-z_]+)`", data)) | PROSE_FIELDS.get(t.name, set())
    optional = set(re.findall(r"optional `([a-z_]+)`", data))
    shape = typeddict_shape(t.payload)
    assert set(shape) <= named
    assert {k for k, (required, _) in shape.items() if not required} >= optional


def test_the_policy_rules_run_in_the_order_spec_gives():
    text = (ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8")
    codes = EVENT_TYPES["PolicyProposed"].codes[1:]
    assert sorted(codes, key=text.index) == list(codes)
    assert EVENT_TYPES["PolicyAdopted"].codes[-len(codes):] == codes


# -- the order the domain runs its rules in --------------------------------------------------


class RuleOrder:
    """The codes a function of the domain can raise, in the order it runs, following calls
    into ``domain.rules`` and ``domain.licensing`` (the license gate)."""

    def __init__(self) -> None:
        rules = [*sorted((ROOT / "domain" / "rules").glob("*.py")),
                 ROOT / "domain" / "licensing.py"]
        self.functions = {name: node for path in rules
                          for name, node in self._functions(str(path)).items()}
        self.deal = self._functions("domain/deal.py")

    @staticmethod
    def _functions(path: str) -> dict[str, ast.FunctionDef]:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))  # ROOT / absolute: itself
        return {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}

    def codes(self, function: ast.FunctionDef, only_rules: bool = False) -> list[str]:
        found: list[str] = []
        for node in _in_evaluation_order(function):
            if isinstance(node, ast.Return):
                value = node.value
                first = value.elts[0] if isinstance(value, ast.Tuple) and value.elts else None
            else:
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in self.functions:
                    found += self.codes(self.functions[name])
                elif only_rules:
                    continue
                first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str) \
                    and CODE.fullmatch(first.value):
                found.append(first.value)
        return list(dict.fromkeys(found))

    def command(self, name: str) -> list[str]:
        """The codes of a post of ``name`` after the request's."""
        if name == "DealApplied":  # duplicate_application: the ledger checks it after
            return [*self.codes(self.deal["apply_for"]), "duplicate_application"]
        methods = {key.value: value.attr for key, value in zip(
            *_commands_dict(self.deal_tree()), strict=True)}
        method = "reverse" if name == "EventReversed" else methods[name]  # handle calls it
        prelude = self.codes(self.deal["handle"], only_rules=True)
        return list(dict.fromkeys([*prelude, *self.codes(self.deal[method])]))

    @staticmethod
    def deal_tree() -> ast.Module:
        return ast.parse((ROOT / "domain" / "deal.py").read_text(encoding="utf-8"))


def _in_evaluation_order(node: ast.AST) -> Iterator[ast.Call | ast.Return]:
    """The calls and returns under ``node``, each after its arguments."""
    for child in ast.iter_child_nodes(node):
        yield from _in_evaluation_order(child)
    if isinstance(node, ast.Call | ast.Return):
        yield node


def _commands_dict(tree: ast.Module) -> tuple[list[Any], list[Any]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_COMMANDS":
            assert isinstance(node.value, ast.Dict)
            return list(node.value.keys), list(node.value.values)
    raise AssertionError("domain/deal.py has no _COMMANDS table")


@pytest.mark.parametrize("t", DEAL_EVENTS, ids=ids)
def test_the_table_lists_the_rules_in_the_order_the_domain_runs_them(t: EventType):
    rules = [c for c in t.codes if c not in REQUEST_CODES]
    assert rules == RuleOrder().command(t.name)
