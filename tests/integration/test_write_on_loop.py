"""The event loop's write path (``Ledger.begin``), on SQLite and PostgreSQL: it decides
only on facts already in memory and never reads the store; anything it cannot decide that
way, or a commit it lost to another writer, goes to ``Ledger.submit``, so every write
still lands exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from domain.program import POLICY_ADOPTED
from service.api.framing import record
from service.eventstore.types import StreamConflict
from service.ledger.application import Ledger
from service.ledger.commands import Command, Context, Rendering
from service.ledger.program import POLICY_REFRESH_SECONDS
from service.settings import Settings
from tests.integration.test_deal_cache import disburse, new_deal, reload
from tests.support.factories import BOARD_APPROVED, FINANCED

render_envelope = Rendering(201)
CTX = Context(actor="writer-key")


class StoreRead(AssertionError):
    pass


@pytest.fixture
def no_store_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any read of the store while ``begin`` decides fails the test."""
    reads: list[str] = []
    original = Ledger.begin

    def guarded(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        def refuse(name: str) -> Any:
            def read(*_: Any, **__: Any) -> Any:
                reads.append(name)
                raise StoreRead(name)
            return read

        with monkeypatch.context() as m:
            for name in ("select_events", "stream_version", "select_deal_rows",
                         "lookup_binding", "head"):
                m.setattr(self.store, name, refuse(name))
            m.setattr(self.repository, "get", refuse("repository.get"))
            return original(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "begin", guarded)
    yield reads


def commit(ledger: Ledger, *commands: Command) -> Any:
    pending = ledger.begin(list(commands), CTX, render_envelope)
    if pending is None:
        return None
    return pending.finish(pending.future.result(timeout=30))


def test_a_cached_deal_is_decided_without_reading_the_store(
    settings: Settings, pair: tuple[Ledger, Ledger], no_store_reads: list[str],
):
    ledger, _ = pair
    deal_id = new_deal(ledger)  # its write leaves it in the cache
    ledger.program()  # the policy versions checked just now
    outcome = commit(ledger, disburse(deal_id, "10.00", "on-loop-1"))
    assert outcome is not None and outcome.envelopes[0]["version"] == 7
    assert no_store_reads == []
    assert reload(settings, deal_id).version == 7


def test_what_would_read_the_store_is_left_to_submit(
    settings: Settings, pair: tuple[Ledger, Ledger], no_store_reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
):
    ledger, other = pair
    deal_id = new_deal(other)  # cached by the other instance only
    ledger.program()
    assert commit(ledger, disburse(deal_id, "10.00", "not-cached")) is None
    adoption = Command(POLICY_ADOPTED, {"id": "x"})
    assert commit(ledger, adoption) is None
    mine = new_deal(ledger)
    ledger._program_checked -= POLICY_REFRESH_SECONDS + 1  # a policy check is due
    assert commit(ledger, disburse(mine, "10.00", "check-due")) is None
    assert no_store_reads == []
    assert reload(settings, deal_id).version == 6 and reload(settings, mine).version == 6
    assert ledger.deals.take(mine) is not None, "a deal left to submit is back in the cache"


def test_a_financing_and_a_vote_are_left_to_submit_whatever_is_cached(
    settings: Settings, pair: tuple[Ledger, Ledger], no_store_reads: list[str],
):
    """SPEC v3: their rules read guards across deals (the program's committed total, the
    buyer's approvals), which only ``submit`` reads, in the commit's transaction."""
    ledger, _ = pair
    applied = new_deal(ledger, financed=False)
    financed = new_deal(ledger)  # authorizes the program
    ledger.program()
    vote = Command("BoardVoted", BOARD_APPROVED, deal_id=applied)
    financing = Command("DealFinanced", FINANCED, deal_id=applied)
    assert commit(ledger, vote) is None
    assert commit(ledger, financing) is None
    assert commit(ledger, disburse(financed, "1.00", "with-a-vote"), vote) is None
    assert no_store_reads == []
    assert reload(settings, applied).version == 1 and reload(settings, financed).version == 6
    assert ledger.deals.take(applied) is not None and ledger.deals.take(financed) is not None
    outcome = ledger.submit([vote], CTX, render_envelope, lambda e: (_ for _ in ()).throw(e))
    assert outcome.envelopes[0]["version"] == 2


def test_a_refusal_on_the_loop_writes_nothing_and_keeps_the_deal_cached(
    settings: Settings, pair: tuple[Ledger, Ledger],
):
    ledger, _ = pair
    deal_id = new_deal(ledger)
    ledger.program()
    too_much = disburse(deal_id, "999999999.00", "too-much")
    assert commit(ledger, too_much) is None
    assert reload(settings, deal_id).version == 6
    assert ledger.deals.take(deal_id) is not None


def test_a_commit_lost_to_another_instance_is_decided_again_and_lands_once(
    settings: Settings, pair: tuple[Ledger, Ledger],
):
    ledger, other = pair
    deal_id = new_deal(ledger)
    ledger.program()
    outcome = asyncio.run(record(ledger, lambda: [disburse(deal_id, "1.00", "a")], CTX,
                                  render_envelope, None))
    assert outcome.envelopes[0]["version"] == 7
    # the other instance appends: this one's cached deal is now stale
    other.submit([disburse(deal_id, "2.00", "b")], CTX, render_envelope,
                 lambda e: (_ for _ in ()).throw(e))
    pending = ledger.begin([disburse(deal_id, "3.00", "c")], CTX, render_envelope)
    assert pending is not None
    with pytest.raises(StreamConflict):
        pending.future.result(timeout=30)
    outcome = asyncio.run(record(ledger, lambda: [disburse(deal_id, "4.00", "d")], CTX,
                                  render_envelope, None))
    assert outcome.envelopes[0]["version"] == 9
    events = ledger.deal_events(deal_id)
    assert [e["data"].get("reference") for e in events[6:]] == ["a", "b", "d"]
    assert [e["version"] for e in events] == list(range(1, 10))


def test_concurrent_writes_on_the_loop_all_land_once(
    settings: Settings, pair: tuple[Ledger, Ledger],
):
    ledger, other = pair
    deals = [new_deal(ledger) for _ in range(4)]
    ledger.program()

    async def write(n: int) -> Any:
        return await record(ledger, lambda: [disburse(deals[n % 4], "1.00", f"w{n}")], CTX,
                             render_envelope, None)

    async def everything() -> list[Any]:
        writes = [asyncio.create_task(write(n)) for n in range(40)]
        # another process writes to the same deals meanwhile
        await asyncio.to_thread(lambda: [other.submit(
            [disburse(d, "1.00", f"o{d}")], CTX, render_envelope,
            lambda e: (_ for _ in ()).throw(e)) for d in deals])
        return await asyncio.gather(*writes)

    outcomes = asyncio.run(everything())
    assert len(outcomes) == 40
    for deal_id in deals:
        events = ledger.deal_events(deal_id)
        assert [e["version"] for e in events] == list(range(1, len(events) + 1))
        refs = [e["data"].get("reference") for e in events[6:]]
        assert len(refs) == len(set(refs)) == 11
    written = {o.envelopes[0]["event_id"] for o in outcomes}
    assert len(written) == 40


def test_a_deal_another_instance_moved_is_brought_up_to_date_not_reloaded(
    settings: Settings, pair: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch,
):
    """Workers of one server each cache the deals they write: a stale entry costs the
    lost commit and one query for the events since, never a reload from the snapshot."""
    ledger, other = pair
    deal_id = new_deal(ledger)
    ledger.program()
    other.submit([disburse(deal_id, "2.00", "elsewhere")], CTX, render_envelope,
                 lambda e: (_ for _ in ()).throw(e))

    def no_reload(*_: Any, **__: Any) -> Any:
        raise AssertionError("reloaded the deal from its snapshot and events")

    monkeypatch.setattr(ledger.repository, "get", no_reload)
    outcome = asyncio.run(record(ledger, lambda: [disburse(deal_id, "3.00", "here")], CTX,
                                  render_envelope, None))
    assert outcome.envelopes[0]["version"] == 8
    cached = ledger.deals.take(deal_id)
    assert cached is not None and cached.version == 8
    monkeypatch.undo()
    assert vars(cached) == vars(reload(settings, deal_id))
