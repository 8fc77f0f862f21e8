"""SPEC v3 "Rule order for money leaving EXIM", through HTTP on both databases: for each
adjacent pair of rules this part adds to the ``DealFinanced`` and ``FundsDisbursed`` lists,
a deal that breaks both at once gets the earlier code; once the earlier rule is mended
(and nothing else changed), the same post gets the later one, which shows both held.

Pairs that cannot hold at once are left out, with the reason next to the list.

The server's clock stands on a fixed day (``tests.support.clocked``); a case moves it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.support.clocked import (
    accepted,
    adopt,
    at,
    clocked_client,
    day,
    deal,
    disbursed,
    financed,
    licensed,
    move_clock,
    noon,
    post,
    ready,
    refused,
    revoked,
    screened,
    two_controlled,
    voted,
)
from tests.support.factories import application

Steps = list[dict[str, Any]]
Case = Callable[[httpx.AsyncClient], Awaitable[tuple[str, Steps]]]
"""Builds a deal that breaks two rules; its id, and the steps that mend the earlier one."""

NL_END_USER = {"name": "Amsterdam AI Lab", "country": "NL"}
AE_END_USER = {"name": "Gulf AI", "country": "AE"}
EMBARGOING_AE = ["AE", "BY", "CU", "IR", "KP", "RU", "SY"]
FULL = [("3A090.a", 64, "8000000.00")]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with clocked_client(database_url) as c:
        yield c


# -- DealFinanced ---------------------------------------------------------------------------


async def financing_expired_and_short(client: httpx.AsyncClient) -> tuple[str, Steps]:
    """3A090.a's only license has expired; 4A090.a's covers half its servers."""
    body = two_controlled()
    steps = at(noon(-20), *licensed(body, "Z-1", FULL, valid_until=day(-10)),
               *licensed(body, "Z-2", [("4A090.a", 4, "1000000.00")]),
               screened(list_date=day(-20)), voted())
    deal_id = await deal(client, body, *steps, applied_at=noon(-20))
    return deal_id, licensed(body, "Z-3", FULL)


async def financing_revoked_and_unscreened(client: httpx.AsyncClient) -> tuple[str, Steps]:
    body = application()
    deal_id = await deal(client, body, *licensed(body, license_number="D-REV"),
                         revoked("D-REV"), voted())
    return deal_id, licensed(body, "Z-2")


async def financing_short_and_unscreened(client: httpx.AsyncClient) -> tuple[str, Steps]:
    body = application()
    deal_id = await deal(client, body, *licensed(body, lines=[("3A090.a", 63, "8000000.00")]),
                         voted())
    return deal_id, licensed(body, "Z-2", [("3A090.a", 1, "0.01")])


async def financing_buyer_unscreened_end_user_denied(client: httpx.AsyncClient
                                                     ) -> tuple[str, Steps]:
    body = application(end_user=NL_END_USER)
    deal_id = await deal(client, body, *licensed(body), screened("end_user", result="match"),
                         voted())
    return deal_id, [screened()]


async def financing_buyer_denied_end_user_unscreened(client: httpx.AsyncClient
                                                     ) -> tuple[str, Steps]:
    body = application(end_user=NL_END_USER)
    deal_id = await deal(client, body, *licensed(body), screened(result="match"), voted())
    return deal_id, [screened("end_user")]


async def financing_denied_and_stale(client: httpx.AsyncClient) -> tuple[str, Steps]:
    """The latest screening is a match, listed 91 days ago."""
    body = application()
    deal_id = await deal(client, body, *licensed(body),
                         screened(list_date=day(-91), result="match"), voted())
    return deal_id, [screened(list_date=day(-91))]


async def financing_buyer_stale_end_user_denied(client: httpx.AsyncClient
                                                ) -> tuple[str, Steps]:
    body = application(end_user=NL_END_USER)
    deal_id = await deal(client, body, *licensed(body), screened(list_date=day(-91)),
                         screened("end_user", result="match"), voted())
    return deal_id, [screened("end_user")]


async def financing_stale_and_embargoed(client: httpx.AsyncClient) -> tuple[str, Steps]:
    """Screenings 91 days old; the end user's country embargoed by a policy adopted since
    the deal was applied for."""
    body = application(end_user=AE_END_USER)
    deal_id = await deal(client, body, *licensed(body), screened(list_date=day(-91)),
                         screened("end_user", list_date=day(-91)), voted())
    await adopt(client, embargoed=EMBARGOING_AE)
    return deal_id, [screened(), screened("end_user")]


# commerce_license_expired and license_quantity_exceeded hold at once on two controlled
# ECCNs, one's license expired, the other's lines short (on one ECCN alone they would be
# one fact: an expired license leaves no valid line). party_not_screened and denied_party
# never hold for one party (a match is a screening), but do for two: one unscreened, the
# other a match, either way round.
FINANCING = [
    ("commerce_license_expired", "license_quantity_exceeded", financing_expired_and_short),
    ("commerce_license_revoked", "party_not_screened", financing_revoked_and_unscreened),
    ("license_quantity_exceeded", "party_not_screened", financing_short_and_unscreened),
    ("party_not_screened", "denied_party", financing_buyer_unscreened_end_user_denied),
    ("party_not_screened", "denied_party", financing_buyer_denied_end_user_unscreened),
    ("denied_party", "party_screening_stale", financing_denied_and_stale),
    ("denied_party", "party_screening_stale", financing_buyer_stale_end_user_denied),
    ("party_screening_stale", "destination_embargoed", financing_stale_and_embargoed),
]


@pytest.mark.parametrize("earlier,later,case", FINANCING,
                         ids=[case.__name__.removeprefix("financing_") for *_, case in FINANCING])
async def test_a_financing_that_breaks_two_rules_gets_the_earlier(
        client: httpx.AsyncClient, earlier: str, later: str, case: Case):
    deal_id, mending = await case(client)
    await refused(client, post(client, deal_id, financed()), earlier)
    for step in mending:
        await accepted(client, deal_id, step)
    await refused(client, post(client, deal_id, financed()), later)


# -- FundsDisbursed ---------------------------------------------------------------------------


async def disbursing_expired_and_short(client: httpx.AsyncClient) -> tuple[str, Steps]:
    """From day 6, 3A090.a's only license has expired, and one of 4A090.a's two."""
    body = two_controlled()
    half = [("4A090.a", 4, "1000000.00")]
    deal_id = await deal(client, body, *licensed(body, "Z-1", FULL, valid_until=day(5)),
                         *licensed(body, "Z-2", half),
                         *licensed(body, "Z-3", half, valid_until=day(5)),
                         screened(), voted(), financed())
    move_clock(client, 6)
    return deal_id, licensed(body, "Z-4", FULL)


async def disbursing_short_and_denied(client: httpx.AsyncClient) -> tuple[str, Steps]:
    """One of two licenses revoked after financing; then the buyer matched a list."""
    body = application()
    half = [("3A090.a", 32, "4000000.00")]
    deal_id = await deal(client, body, *licensed(body, "Z-1", half),
                         *licensed(body, "Z-2", half, license_number="D-HALF"),
                         screened(), voted(), financed(), revoked("D-HALF"),
                         screened(result="match"))
    return deal_id, licensed(body, "Z-3", half)


async def disbursing_denied_and_stale(client: httpx.AsyncClient) -> tuple[str, Steps]:
    """91 days after financing, a match against the list of the day it was financed."""
    deal_id = await ready(client, application())
    await accepted(client, deal_id, financed())
    move_clock(client, 91)
    await accepted(client, deal_id, screened(list_date=day(), result="match"))
    return deal_id, [screened(list_date=day())]


async def disbursing_stale_and_embargoed(client: httpx.AsyncClient) -> tuple[str, Steps]:
    """91 days after financing, the end user's country embargoed from that day."""
    deal_id = await ready(client, application(end_user=AE_END_USER))
    await accepted(client, deal_id, financed())
    move_clock(client, 91)
    await adopt(client, embargoed=EMBARGOING_AE)
    return deal_id, [screened(list_date=day(91)), screened("end_user", list_date=day(91))]


# After a v3 financing, party_not_screened cannot hold: the financing needed a screening of
# each party, parties are never amended and screenings never removed. So neither
# license_quantity_exceeded -> party_not_screened nor party_not_screened -> denied_party
# can be built; license_quantity_exceeded -> denied_party stands for the first.
DISBURSING = [
    ("commerce_license_expired", "license_quantity_exceeded", disbursing_expired_and_short),
    ("license_quantity_exceeded", "denied_party", disbursing_short_and_denied),
    ("denied_party", "party_screening_stale", disbursing_denied_and_stale),
    ("party_screening_stale", "destination_embargoed", disbursing_stale_and_embargoed),
]


@pytest.mark.parametrize("earlier,later,case", DISBURSING,
                         ids=[case.__name__.removeprefix("disbursing_")
                              for *_, case in DISBURSING])
async def test_a_disbursement_that_breaks_two_rules_gets_the_earlier(
        client: httpx.AsyncClient, earlier: str, later: str, case: Case):
    deal_id, mending = await case(client)
    await refused(client, post(client, deal_id, disbursed()), earlier)
    for step in mending:
        await accepted(client, deal_id, step)
    await refused(client, post(client, deal_id, disbursed()), later)
