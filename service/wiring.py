"""The ledger built from settings, for the API and the commands alike; it imports no web
framework, so a command that only needs the ledger starts without one."""

from __future__ import annotations

from service.ledger.application import Ledger
from service.ledger.commands import Clock, utc_now
from service.settings import Settings


def build_ledger(settings: Settings, clock: Clock = utc_now) -> Ledger:
    return Ledger(settings.eventsourcing_env(), settings.snapshot_interval, clock,
                  settings.aggregate_cache_size)


def start_ledger(settings: Settings, clock: Clock = utc_now) -> Ledger:
    """A ledger that judges by its policies: on a new (or upgraded) ledger the shipped
    versions are adopted first, then ``LEDGER_POLICY_FILE``'s new ones."""
    from service.policies import load_policy_file

    from_file = load_policy_file(settings.policy_file)
    ledger = build_ledger(settings, clock)
    try:
        ledger.adopt_on_start(from_file)
    except Exception:
        ledger.close()
        raise
    return ledger
