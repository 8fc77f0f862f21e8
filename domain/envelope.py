"""The API envelope of a stored event (SPEC §3), built from the stored row alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def type_from_topic(topic: str) -> str:
    """``domain.deal:Deal.BoardVoted`` -> ``BoardVoted``."""
    return topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


def envelope(
    deal_id: str, version: int, position: int, topic: str, state: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "event_id": state["event_id"],
        "deal_id": deal_id,
        "version": version,
        "position": position,
        "type": type_from_topic(topic),
        "data": state["data"],
        "occurred_at": state["occurred_at"],
        "recorded_at": state["recorded_at"],
        "actor": state["actor"],
        "source": state.get("source"),
        "correlation_id": state.get("correlation_id"),
        "idempotency_key": state.get("idempotency_key"),
        "policy_version": state.get("policy_version"),
        "prev_hash": state.get("prev_hash"),
        "hash": state.get("hash"),
    }

