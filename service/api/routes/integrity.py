"""Integrity for auditors: verification, the signed Merkle digest, and proofs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from domain.errors import NotFound
from projections.base import Tables
from projections.merkle import MerkleError
from service.api.deps import Auditor, LedgerDep
from service.api.freshness import ensure_fresh, refuse_beyond_head
from service.api.params import MAX_POSITION, DealIdFilter, EventId, MinPosition
from service.api.problems import ApiProblem
from service.api.responses import (
    ConsistencyProof,
    Digest,
    InclusionProof,
    PublicKey,
    Verification,
    problems,
)
from service.integrity import proofs, verification
from service.integrity.signing import Signer, load_signer

router = APIRouter(prefix="/v1/audit", tags=["integrity"],
                   responses=problems(401, 403, 422, 503))
logger = logging.getLogger("exim_ledger.integrity")
T = TypeVar("T")


@router.get("/verify", response_model=Verification, responses=problems(404),
            summary="Recompute every hash, chain link and version; compare leaves")
async def verify(
    ledger: LedgerDep, request: Request, _: Auditor, deal_id: DealIdFilter = None
) -> Response:
    engine = request.app.state.engine
    report = await run_in_threadpool(verification.verify, ledger.store, engine, deal_id)
    if deal_id is not None and report.events_checked == 0 and report.ok:
        raise NotFound(f"deal {deal_id} not found")
    return JSONResponse(report.as_dict())


@router.get("/digest", response_model=Digest, responses=problems(409),
            summary="The signed Merkle tree head of the global log")
async def digest(
    ledger: LedgerDep, request: Request, _: Auditor, min_position: MinPosition = None
) -> Response:
    await _fresh(request, ledger, min_position)
    signer = await run_in_threadpool(_signer, request)
    return JSONResponse(await _read(request, lambda c, t: proofs.digest(c, t, signer)))


@router.get("/public-key", response_model=PublicKey,
            summary="The Ed25519 key that signs digests")
async def public_key(request: Request, _: Auditor) -> Response:
    signer = await run_in_threadpool(_signer, request)
    return JSONResponse(signer.public_key())


@router.get("/proof", response_model=InclusionProof, responses=problems(404, 409),
            summary="Inclusion proof of one event in a tree of a given size")
async def proof(
    ledger: LedgerDep, request: Request, _: Auditor,
    event_id: EventId,
    tree_size: int | None = Query(None, ge=1, le=MAX_POSITION,
                                  description="default: the current size"),
    min_position: MinPosition = None,
) -> Response:
    await _fresh(request, ledger, min_position)
    return JSONResponse(
        await _read(request, lambda c, t: proofs.inclusion(c, t, str(event_id), tree_size)))


@router.get("/consistency", response_model=ConsistencyProof, responses=problems(409),
            summary="Proof that tree `first` is a prefix of tree `second`")
async def consistency(
    ledger: LedgerDep, request: Request, _: Auditor,
    first: int = Query(..., ge=0, le=MAX_POSITION),
    second: int = Query(..., ge=0, le=MAX_POSITION),
    min_position: MinPosition = None,
) -> Response:
    await _fresh(request, ledger, min_position)
    return JSONResponse(
        await _read(request, lambda c, t: proofs.consistency(c, t, first, second)))


async def _read(request: Request, query: Callable[[sa.Connection, Tables], T]) -> T:
    engine: sa.Engine = request.app.state.engine

    def run() -> T:
        with engine.connect() as conn:
            tables, _ = proofs.merkle_tables(conn)
            return query(conn, tables)

    try:
        return await run_in_threadpool(run)
    except MerkleError as e:
        logger.error("merkle projection inconsistent: %s", e)
        raise ApiProblem(503, "merkle_unavailable", "the Merkle tree is being rebuilt or is "
                         "incomplete; retry", headers={"Retry-After": "1"}) from None


async def _fresh(request: Request, ledger: Any, min_position: int | None) -> None:
    """A runner-maintained tree waits for ``min_position``; an unmanaged one (no runner
    has registered ``merkle``) is caught up here, incrementally."""
    state = request.app.state
    engine: sa.Engine = state.engine

    def managed() -> bool:
        with engine.connect() as conn:
            return proofs.merkle_tables(conn)[1]

    if await run_in_threadpool(managed):
        await ensure_fresh(request, [proofs.MERKLE], min_position)
        return
    await refuse_beyond_head(request, min_position)
    lock = getattr(state, "merkle_catch_up_lock", None)
    if lock is None:
        lock = state.merkle_catch_up_lock = threading.Lock()

    def run() -> None:
        with lock:
            proofs.catch_up(engine, ledger.store)

    await run_in_threadpool(run)


def _signer(request: Request) -> Signer:
    state = request.app.state
    signer = getattr(state, "signer", None)
    if signer is None:
        try:
            signer = load_signer(state.settings)
        except (OSError, ValueError) as e:
            logger.error("signing key unavailable: %s", e)
            raise ApiProblem(503, "signing_key_unavailable",
                             "the digest signing key cannot be loaded; see the server log",
                             headers={"Retry-After": "10"}) from None
        state.signer = signer
    return signer
