"""What the benchmarks write: deals of one shape, each taken through its whole life."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from typing import Any

from service.api.framing import render_error, render_json
from service.ledger import Command, Context, Ledger, deal_id_for

EVENTS_PER_DEAL = 10
BATCH = 1000  # commands per Ledger.submit, the most one POST /v1/batches takes
BOARD_APPROVAL = {"meeting_date": "2026-06-01", "votes_for": 4, "votes_against": 1,
                  "abstentions": 0, "decision": "approved", "approved_amount": "8500000.00"}
_RENDER = render_json(201, lambda envelopes: {"count": len(envelopes)})


def application(number: str, i: int = 0) -> dict[str, Any]:
    """A ``DealApplied`` body for controlled chips; ``i`` varies the buyer's country, the
    term and the instrument."""
    long_term = i % 3 == 0
    return {
        "application_number": number,
        "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
        "buyer": {"name": f"Buyer {i}", "country": ("DE", "FR", "JP", "BR", "IN")[i % 5]},
        "instrument": "direct_loan" if long_term else ("insurance", "loan_guarantee")[i % 2],
        "term": "long" if long_term else "medium",
        "contract_value": "10000000.00", "financed_amount": "8500000.00",
        "tenor_years": 10 if long_term else 5,
        "items": [
            {"description": "AI accelerators", "category": "accelerator", "eccn": "3A090.a",
             "quantity": 64, "value": "8000000.00"},
            {"description": "Rack servers", "category": ("server", "storage")[i % 2],
             "eccn": "5A992.c", "quantity": 8, "value": "2000000.00"},
        ],
    }


def lifecycle(i: int, instrument: str) -> list[tuple[str, dict[str, Any]]]:
    """The nine events after the application: licensed, approved, financed, drawn twice,
    repaid twice, and the undrawn rest cancelled."""
    financing: dict[str, Any] = {"instrument": instrument, "amount": "8000000.00",
                                 "exposure_fee_pct": "2.25", "final_maturity_date": "2036-06-30"}
    if instrument == "direct_loan":
        financing["interest_rate_pct"] = "4.125"
    return [
        ("LicenseRequested", {"application_ref": f"Z-{i}", "eccns": ["3A090.a"]}),
        ("CommerceLicenseApproved", {"application_ref": f"Z-{i}", "license_number": f"D-{i}",
                                     "eccns": ["3A090.a"], "valid_until": "2030-12-31"}),
        ("BoardVoted", BOARD_APPROVAL),
        ("DealFinanced", financing),
        ("FundsDisbursed", {"amount": "3000000.00", "reference": "D1"}),
        ("FundsDisbursed", {"amount": "3000000.00", "reference": "D2"}),
        ("RepaymentReceived", {"principal": "1000000.00", "interest": "90000.00",
                               "reference": "R1"}),
        ("RepaymentReceived", {"principal": "1000000.00", "interest": "80000.00",
                               "reference": "R2"}),
        ("DealCancelled", {"reason": "undrawn balance released", "amount": "1000000.00"}),
    ]


def deal_commands(i: int) -> list[Command]:
    """Deal ``i``'s ``EVENTS_PER_DEAL`` commands, in order."""
    body = application(f"BENCH-{i:07d}", i)
    deal_id = deal_id_for(body["application_number"])
    return [Command("DealApplied", body)] + [
        Command(type_name, data, deal_id=deal_id)
        for type_name, data in lifecycle(i, body["instrument"])]


def write(ledger: Ledger, commands: Iterable[Command]) -> float:
    """Submit ``commands`` in batches of ``BATCH``, as ``POST /v1/batches`` does, showing
    progress; the seconds it took."""
    started = time.perf_counter()
    ctx = Context(actor="bench", source="bench")
    pending, written = iter(commands), 0
    while batch := list(itertools.islice(pending, BATCH)):
        ledger.submit(batch, ctx, _RENDER, render_error)
        written += len(batch)
        rate = written / (time.perf_counter() - started)
        print(f"\r  written {written:>9,} events ({rate:,.0f}/s)", end="", flush=True)
    print()
    return time.perf_counter() - started


def empty_postgres(url: str) -> None:
    """Drop everything in the PostgreSQL database at ``url``."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
