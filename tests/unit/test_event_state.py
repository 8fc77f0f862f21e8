"""The ledger builds a deal event's stored state without the library's JSON round trip;
it must be exactly what the library's mapper stores, since the hash covers it."""

from __future__ import annotations

import json

from eventsourcing.utils import get_topic

from domain.chain import canonical_json
from domain.deal import Deal
from service.ledger.decide import EventIds, event_state
from tests.unit.test_deal_properties import mapper
from tests.unit.test_rules import apply, approve_license, request_license


def test_event_state_equals_the_mapper_round_trip() -> None:
    deal = approve_license(request_license(apply()))
    events = [ev for ev in deal.collect_events() if isinstance(ev, Deal.Event)]
    assert len(events) == 3
    m = mapper()
    for ev in events:
        stored = m.to_stored_event(ev)
        state = event_state(ev)
        assert state == json.loads(stored.state)
        assert canonical_json(state) == canonical_json(json.loads(stored.state))
        assert get_topic(type(ev)) == stored.topic


def test_event_ids_are_distinct_version_4_uuids_past_the_first_draw() -> None:
    ids = EventIds(3)
    drawn = [ids() for _ in range(10)]  # more than the first draw holds
    assert len(set(drawn)) == 10
    assert all(len(i) == 36 and i[14] == "4" and i[19] in "89ab" for i in drawn)
