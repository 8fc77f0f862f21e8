"""The API's operations, declared once for both clients: each function builds the ``Call``
its method sends, and ``Operations`` binds them as methods of a sync or async client."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, overload
from urllib.parse import quote
from uuid import UUID

from exim_ledger_client._append import AppendOperation
from exim_ledger_client._core import Call, P, T, post, read_json, timestamp
from exim_ledger_client.batch import BatchItem
from exim_ledger_client.models import (
    Deal,
    DealExposure,
    DealPage,
    Envelope,
    EventPage,
    License,
    LicensePage,
    Policies,
    Portfolio,
    ProgramExposure,
    ProgramStatus,
    RefusalPage,
    Verification,
    envelopes,
)
from exim_ledger_client.payloads import (
    DealAppliedData,
    PolicyVersionData,
    ProgramAuthorizedData,
    ProgramSuspendedData,
)
from exim_ledger_client.proofs import ConsistencyProof, Digest, InclusionProof, PublicKey

if TYPE_CHECKING:
    from exim_ledger_client import AsyncLedgerClient, LedgerClient

Data = Mapping[str, Any]


def apply(data: DealAppliedData, *, occurred_at: datetime | str | None = None,
          idempotency_key: str | None = None,
          correlation_id: str | None = None) -> Call[Envelope]:
    """``POST /v1/deals``: open a deal with its ``DealApplied`` data; the event's
    envelope."""
    body: dict[str, Any] = dict(data)
    if occurred_at is not None:
        body["occurred_at"] = timestamp(occurred_at)
    return post("/v1/deals", body, Envelope.from_json, idempotency_key, correlation_id)


def append(deal_id: UUID | str, type: str, data: Data, expected_version: int | None = None,
           *, occurred_at: datetime | str | None = None, idempotency_key: str | None = None,
           correlation_id: str | None = None) -> Call[Envelope]:
    """``POST /v1/deals/{deal_id}/events`` (typed by ``_append.Append``)."""
    body: dict[str, Any] = {"type": type, "data": data}
    if expected_version is not None:
        body["expected_version"] = expected_version
    if occurred_at is not None:
        body["occurred_at"] = timestamp(occurred_at)
    return post(f"/v1/deals/{deal_id}/events", body, Envelope.from_json, idempotency_key,
                correlation_id)


def batch(events: Sequence[BatchItem], *, idempotency_key: str | None = None,
          correlation_id: str | None = None) -> Call[list[Envelope]]:
    """``POST /v1/batches``: up to 1000 events, all or nothing; each item names its deal by
    ``deal_id`` or ``application_number``, and is typed by its event type (``BatchItem``).
    Their envelopes, in order."""
    return post("/v1/batches", {"events": list(events)}, envelopes, idempotency_key,
                correlation_id)


def deal(deal_id: UUID | str, as_of: datetime | str | None = None) -> Call[Deal]:
    """``GET /v1/deals/{deal_id}``: its derived state, now or as the ledger knew it at
    ``as_of``."""
    params = {"as_of": timestamp(as_of)} if as_of is not None else {}
    return Call("GET", f"/v1/deals/{deal_id}", read_json(Deal.from_json), params)


def deal_by_application(application_number: str) -> Call[Deal]:
    """``GET /v1/deals?application_number=``: the deal applied for under that number."""
    return Call("GET", "/v1/deals", read_json(Deal.from_json),
                {"application_number": application_number})


def deal_events(deal_id: UUID | str) -> Call[list[Envelope]]:
    """``GET /v1/deals/{deal_id}/events``: the deal's events, by version."""
    return Call("GET", f"/v1/deals/{deal_id}/events", read_json(envelopes))


def events_page(after: int = 0, limit: int = 1000) -> Call[EventPage]:
    """``GET /v1/events``: the page of the global log after position ``after``."""
    return Call("GET", "/v1/events", read_json(EventPage.from_json),
                {"after": after, "limit": limit})


def portfolio(min_position: int | None = None) -> Call[Portfolio]:
    """``GET /v1/portfolio``; with ``min_position`` (a write's position), once it reflects
    that write (read-your-writes)."""
    params = {"min_position": min_position} if min_position is not None else {}
    return Call("GET", "/v1/portfolio", read_json(Portfolio.from_json), params)


def _params(**values: str | int | UUID | None) -> dict[str, str | int]:
    """Query parameters, those given."""
    return {k: str(v) if isinstance(v, UUID) else v for k, v in values.items() if v is not None}


def portfolio_deals(*, stage: str | None = None, country: str | None = None,
                    instrument: str | None = None, term: str | None = None,
                    category: str | None = None, license_status: str | None = None,
                    q: str | None = None, occurred_from: datetime | str | None = None,
                    occurred_to: datetime | str | None = None, limit: int = 100,
                    cursor: str | None = None,
                    min_position: int | None = None) -> Call[DealPage]:
    """``GET /v1/portfolio/deals``: a page of deals (one row each, the derived state),
    filtered by each argument given; pass the page's ``next_cursor`` as ``cursor`` for the
    next one. ``license_status`` is one of not_required, required, requested, approved,
    partially_approved, expired, denied, revoked; ``q`` is text in the application number,
    the buyer's or the end user's name (any case); ``occurred_from`` (inclusive) and
    ``occurred_to`` (exclusive) bound the deal's business date."""
    return Call("GET", "/v1/portfolio/deals", read_json(DealPage.from_json), _params(
        stage=stage, country=country, instrument=instrument, term=term, category=category,
        license_status=license_status, q=q,
        occurred_from=timestamp(occurred_from) if occurred_from is not None else None,
        occurred_to=timestamp(occurred_to) if occurred_to is not None else None,
        limit=limit, cursor=cursor, min_position=min_position))


def license(number: str, *, min_position: int | None = None) -> Call[License]:
    """``GET /v1/licenses/{number}``: an approved license (its number in any case), its
    status judged today; ``LedgerProblem`` ``not_found`` for a number never approved."""
    return Call("GET", f"/v1/licenses/{quote(number, safe='')}", read_json(License.from_json),
                _params(min_position=min_position))


def licenses(status: str | None = None, deal_id: UUID | str | None = None, *,
             limit: int = 100, cursor: str | None = None,
             min_position: int | None = None) -> Call[LicensePage]:
    """``GET /v1/licenses``: a page of approved licenses in the order approved, filtered
    by ``status`` today (valid | expired | revoked) and ``deal_id``."""
    return Call("GET", "/v1/licenses", read_json(LicensePage.from_json), _params(
        status=status, deal_id=deal_id, limit=limit, cursor=cursor, min_position=min_position))


def refusals(*, code: str | None = None, actor: str | None = None,
             event_type: str | None = None, since: datetime | str | None = None,
             until: datetime | str | None = None, limit: int = 100,
             cursor: str | None = None) -> Call[RefusalPage]:
    """``GET /v1/refusals`` (auditor): a page of the writes refused to authenticated keys,
    oldest first, filtered by ``code``, ``actor`` (a key's name), ``event_type`` and the
    time they were recorded (``since`` and ``until``, inclusive: the API's ``from`` and
    ``to``). A refusal this client's process caused is listed (read-your-writes)."""
    return Call("GET", "/v1/refusals", read_json(RefusalPage.from_json), _params(
        code=code, actor=actor, event_type=event_type,
        **{"from": timestamp(since) if since is not None else None,
           "to": timestamp(until) if until is not None else None},
        limit=limit, cursor=cursor))


def policies() -> Call[Policies]:
    """``GET /v1/policies``: every adopted policy version, and the one in force."""
    return Call("GET", "/v1/policies", read_json(Policies.from_json))


def propose_policy(version: PolicyVersionData, authority: str, *,
                   idempotency_key: str | None = None,
                   correlation_id: str | None = None) -> Call[Envelope]:
    """``POST /v1/policies`` (admin): propose a policy version under ``authority`` (the act
    it carries out); another admin approves it. The ``PolicyProposed`` envelope."""
    return post("/v1/policies", {**version, "authority": authority}, Envelope.from_json,
                idempotency_key, correlation_id)


def _decision(policy_id: str, comment: str | None) -> dict[str, Any]:
    return {} if comment is None else {"comment": comment}


def approve_policy(policy_id: str, comment: str | None = None, *,
                   idempotency_key: str | None = None,
                   correlation_id: str | None = None) -> Call[Envelope]:
    """``POST /v1/policies/{id}/approval`` (admin, not the proposer): adopt a pending
    proposal; the ``PolicyAdopted`` envelope."""
    return post(f"/v1/policies/{quote(policy_id, safe='')}/approval",
                _decision(policy_id, comment), Envelope.from_json, idempotency_key,
                correlation_id)


def withdraw_policy(policy_id: str, comment: str | None = None, *,
                    idempotency_key: str | None = None,
                    correlation_id: str | None = None) -> Call[Envelope]:
    """``POST /v1/policies/{id}/withdrawal`` (admin): withdraw a pending proposal."""
    return post(f"/v1/policies/{quote(policy_id, safe='')}/withdrawal",
                _decision(policy_id, comment), Envelope.from_json, idempotency_key,
                correlation_id)


def program() -> Call[ProgramStatus]:
    """``GET /v1/program``: the authorization in force and the committed totals."""
    return Call("GET", "/v1/program", read_json(ProgramStatus.from_json))


def authorize_program(data: ProgramAuthorizedData, *, idempotency_key: str | None = None,
                      correlation_id: str | None = None) -> Call[Envelope]:
    """``POST /v1/program/authorizations`` (board): the board's vote authorizing the
    program, with ``effective_from``, ``total_limit`` and optional ``country_limits``."""
    return post("/v1/program/authorizations", data, Envelope.from_json, idempotency_key,
                correlation_id)


def suspend_program(data: ProgramSuspendedData, *, idempotency_key: str | None = None,
                    correlation_id: str | None = None) -> Call[Envelope]:
    """``POST /v1/program/suspensions`` (board): suspend the program from a date."""
    return post("/v1/program/suspensions", data, Envelope.from_json, idempotency_key,
                correlation_id)


def exposure(min_position: int | None = None) -> Call[ProgramExposure]:
    """``GET /v1/exposure``: the program's accounts and their reconciliation."""
    return Call("GET", "/v1/exposure", read_json(ProgramExposure.from_json),
                _params(min_position=min_position))


def deal_exposure(deal_id: UUID | str, min_position: int | None = None
                  ) -> Call[DealExposure]:
    """``GET /v1/exposure/deals/{deal_id}``: one deal's balances and postings."""
    return Call("GET", f"/v1/exposure/deals/{deal_id}", read_json(DealExposure.from_json),
                _params(min_position=min_position))


def digest(min_position: int | None = None) -> Call[Digest]:
    """``GET /v1/audit/digest`` (auditor): the signed Merkle tree head of the log (check it
    with ``proofs.verify_signature``)."""
    return Call("GET", "/v1/audit/digest", read_json(Digest.from_json),
                _params(min_position=min_position))


def public_key() -> Call[PublicKey]:
    """``GET /v1/audit/public-key`` (auditor): the key the server says signs its digests
    (compare it with the operator's, obtained out of band)."""
    return Call("GET", "/v1/audit/public-key", read_json(PublicKey.from_json))


def proof(event_id: UUID | str, tree_size: int | None = None,
          min_position: int | None = None) -> Call[InclusionProof]:
    """``GET /v1/audit/proof`` (auditor): the inclusion proof of an event in the tree of
    ``tree_size`` leaves (default: the current one); ``proofs.verify_inclusion``."""
    return Call("GET", "/v1/audit/proof", read_json(InclusionProof.from_json), _params(
        event_id=event_id, tree_size=tree_size, min_position=min_position))


def consistency(first: int, second: int, min_position: int | None = None
                ) -> Call[ConsistencyProof]:
    """``GET /v1/audit/consistency`` (auditor): that tree ``first`` is a prefix of tree
    ``second``; ``proofs.verify_consistency``."""
    return Call("GET", "/v1/audit/consistency", read_json(ConsistencyProof.from_json),
                _params(first=first, second=second, min_position=min_position))


def verify(deal_id: UUID | str | None = None) -> Call[Verification]:
    """``GET /v1/audit/verify`` (auditor): recompute every hash and chain, or one deal's."""
    params = {"deal_id": str(deal_id)} if deal_id is not None else {}
    return Call("GET", "/v1/audit/verify", read_json(Verification.from_json), params)


class Operation(Generic[P, T]):
    """A method made of a ``Call`` builder: the client it is read from sends the call (a
    sync client answers, an async one returns a coroutine)."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Operation[P, T]: ...
    @overload
    def __get__(self, client: LedgerClient, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncLedgerClient, owner: type[Any]
                ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, client: LedgerClient | AsyncLedgerClient | None,
                owner: type[Any]) -> Any:
        return self if client is None else client._bind(self.build)


class Operations:
    """The operations both clients have (their ``events`` and ``stream`` iterate)."""

    apply = Operation(apply)
    append = AppendOperation()
    batch = Operation(batch)
    deal = Operation(deal)
    deal_by_application = Operation(deal_by_application)
    deal_events = Operation(deal_events)
    page = Operation(events_page)
    portfolio = Operation(portfolio)
    portfolio_deals = Operation(portfolio_deals)
    license = Operation(license)
    licenses = Operation(licenses)
    refusals = Operation(refusals)
    policies = Operation(policies)
    propose_policy = Operation(propose_policy)
    approve_policy = Operation(approve_policy)
    withdraw_policy = Operation(withdraw_policy)
    program = Operation(program)
    authorize_program = Operation(authorize_program)
    suspend_program = Operation(suspend_program)
    verify = Operation(verify)
    exposure = Operation(exposure)
    deal_exposure = Operation(deal_exposure)
    digest = Operation(digest)
    public_key = Operation(public_key)
    proof = Operation(proof)
    consistency = Operation(consistency)
