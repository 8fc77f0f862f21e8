"""The program stream: policy proposed and adopted by two people, and the program's own
authorization by the board.

Which destinations benefit is decided later, by people, so each policy version is an
event on one stream (id ``00000000-0000-0000-0000-000000000000``): hashed, chained and in
the global log like any deal event, but not a deal. v3 adds four eyes (a version is
proposed, then adopted by another key, or withdrawn) and the board's vote on the program
itself: ``ProgramAuthorized`` with its limits, ``ProgramSuspended``. The stream folds into
the policy book every instance judges by and the authorization in force on a day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.errors import RuleViolation
from domain.policy import PolicyBook, PolicyVersion

PROGRAM_ID = UUID(int=0)
POLICY_ADOPTED = "PolicyAdopted"
POLICY_PROPOSED = "PolicyProposed"
POLICY_WITHDRAWN = "PolicyWithdrawn"
PROGRAM_AUTHORIZED = "ProgramAuthorized"
PROGRAM_SUSPENDED = "ProgramSuspended"
PROGRAM_TYPES = (POLICY_PROPOSED, POLICY_ADOPTED, POLICY_WITHDRAWN, PROGRAM_AUTHORIZED,
                 PROGRAM_SUSPENDED)
TOPIC_PREFIX = "domain.program:Program."
POLICY_ADOPTED_TOPIC = TOPIC_PREFIX + POLICY_ADOPTED
QUORUM, DIRECTORS = 3, 5


def topic_of(type_name: str) -> str:
    return TOPIC_PREFIX + type_name


@dataclass(frozen=True)
class Recorded:
    """One program-stream event as the API lists it; a pending one (decided in this
    write, not stored yet) has no position, time or hash."""

    type: str
    data: Mapping[str, Any]
    stream_version: int
    actor: str
    position: int = 0
    event_id: str = ""
    recorded_at: str = ""
    hash: str = ""

    @property
    def recorded_on(self) -> str:
        return self.recorded_at[:10]


@dataclass(frozen=True)
class Adoption:
    """One ``PolicyAdopted`` event as the API lists it."""

    version: PolicyVersion
    stream_version: int
    position: int
    event_id: str
    adopted_at: str
    adopted_by: str
    hash: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Authorization:
    """A ``ProgramAuthorized``: from when, until when, and its limits."""

    effective_from: date
    expires_on: date | None
    total_limit: Decimal
    country_limits: Mapping[str, Decimal]
    record: Recorded
    index: int  # among the stream's records: what a later suspension follows

    def in_force_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.expires_on is None or day <= self.expires_on)


class Program:
    """The program stream folded, in recorded order."""

    def __init__(self, records: Iterable[Recorded] = ()) -> None:
        self.records = list(records)
        self.adoptions: list[Adoption] = []
        self.proposals: dict[str, Recorded] = {}  # pending, by policy id
        self.authorizations: list[Authorization] = []
        self.suspensions: list[tuple[int, date]] = []  # (index among records, from)
        for index, record in enumerate(self.records):
            self._fold(index, record)
        self.book = PolicyBook(a.version for a in self.adoptions)

    def _fold(self, index: int, r: Recorded) -> None:
        d = r.data
        if r.type == POLICY_ADOPTED:
            self.proposals.pop(d["id"], None)
            self.adoptions.append(Adoption(PolicyVersion.from_data(d), r.stream_version,
                                           r.position, r.event_id, r.recorded_at, r.actor,
                                           r.hash, d))
        elif r.type == POLICY_PROPOSED:
            self.proposals[d["id"]] = r
        elif r.type == POLICY_WITHDRAWN:
            self.proposals.pop(d["id"], None)
        elif r.type == PROGRAM_AUTHORIZED:
            self.authorizations.append(Authorization(
                date.fromisoformat(d["effective_from"]),
                date.fromisoformat(d["expires_on"]) if d.get("expires_on") else None,
                Decimal(d["total_limit"]),
                {c: Decimal(v) for c, v in (d.get("country_limits") or {}).items()},
                r, index))
        elif r.type == PROGRAM_SUSPENDED:
            self.suspensions.append((index, date.fromisoformat(d["effective_from"])))

    @classmethod
    def from_envelopes(cls, envelopes: Iterable[Mapping[str, Any]]) -> Program:
        return cls(Recorded(ev["type"], ev["data"], ev["version"], ev["actor"], ev["position"],
                            ev["event_id"], ev["recorded_at"], ev["hash"])
                   for ev in envelopes)

    def recording(self, type_name: str, data: Mapping[str, Any], actor: str) -> Program:
        """This program with an event decided next (not yet stored)."""
        return Program([*self.records, Recorded(type_name, data, self.version + 1, actor)])

    def adopting(self, policy: PolicyVersion) -> Program:
        """This program with ``policy`` adopted next (not yet stored)."""
        return self.recording(POLICY_ADOPTED, policy.normal_form(), "")

    @property
    def version(self) -> int:
        """The stream's version: how many events it holds."""
        return len(self.records)

    # -- the program's authorization ------------------------------------------------------

    def authorization_on(self, day: date) -> Authorization | None:
        """The most recently recorded authorization in force on ``day`` and not followed
        by a suspension in force on it."""
        found = next((a for a in reversed(self.authorizations) if a.in_force_on(day)), None)
        if found is None:
            return None
        if any(index > found.index and since <= day for index, since in self.suspensions):
            return None
        return found

    def suspended_on(self, day: date) -> bool:
        """Whether a suspension in force on ``day`` was not lifted by a later
        authorization."""
        last_authorized = max((a.index for a in self.authorizations),
                              default=-1)
        return any(index > last_authorized and since <= day
                   for index, since in self.suspensions)

    # -- the rules of the program's events --------------------------------------------------

    def check_new(self, policy: PolicyVersion, today: date, *, retroactive: bool = False,
                  approving: bool = False) -> None:
        """``policy_retroactive``, ``policy_id_taken``, ``policy_date_taken``, in that
        order: checked at a proposal (or a direct adoption) and again at its approval. A
        pending proposal's id and date count as taken, but for the one being approved
        (``approving``). ``retroactive`` admits an effective date in the past (a bootstrap
        file on a ledger with no deal event)."""
        if not retroactive and policy.effective_from < today:
            raise RuleViolation(
                "policy_retroactive",
                f"policy {policy.id} would take effect on {policy.effective_from}, before "
                f"today ({today}): a new policy never changes how past events were judged")
        pending = {r.data["id"]: PolicyVersion.from_data(r.data)
                   for r in self.proposals.values()}
        if approving:
            pending.pop(policy.id)
        if self.book.by_id(policy.id) is not None or policy.id in pending:
            raise RuleViolation("policy_id_taken",
                                f"a policy {policy.id!r} was already adopted or proposed",
                                status=409)
        taken = next((v for v in (*self.book.versions, *pending.values())
                      if v.effective_from == policy.effective_from), None)
        if taken is not None:
            raise RuleViolation(
                "policy_date_taken",
                f"policy {taken.id!r} already takes effect on {policy.effective_from} "
                "(one version a day)", status=409)

    def pending(self, policy_id: str) -> Recorded:
        """The pending proposal of ``policy_id``, else ``policy_not_pending`` (404)."""
        found = self.proposals.get(policy_id)
        if found is None:
            raise RuleViolation("policy_not_pending",
                                f"no proposal of policy {policy_id!r} is pending", status=404)
        return found

    def check_approval(self, policy_id: str, approver: str, today: date) -> Recorded:
        """Four eyes: another key than the proposer's approves; the proposal's rules hold
        again today. The pending proposal."""
        proposal = self.pending(policy_id)
        if proposal.actor == approver:
            raise RuleViolation(
                "policy_self_approval",
                f"policy {policy_id!r} was proposed by {approver!r}: another key must "
                "approve it", status=403)
        self.check_new(PolicyVersion.from_data(proposal.data), today, approving=True)
        return proposal


def check_program_vote(data: Mapping[str, Any], occurred_on: str) -> None:
    """``ProgramAuthorized``: ``no_quorum``, ``too_many_votes``,
    ``decision_contradicts_votes`` (for must exceed against), ``meeting_in_future``."""
    votes_for, against, abstentions = (data["votes_for"], data["votes_against"],
                                       data["abstentions"])
    cast = votes_for + against + abstentions
    if cast < QUORUM:
        raise RuleViolation("no_quorum",
                            f"{cast} directors voted or abstained; the quorum is {QUORUM}")
    if cast > DIRECTORS:
        raise RuleViolation("too_many_votes",
                            f"{cast} votes and abstentions from a board of {DIRECTORS}")
    if votes_for <= against:
        raise RuleViolation("decision_contradicts_votes",
                            f"an authorization needs more votes for ({votes_for}) than "
                            f"against ({against})")
    if data["meeting_date"] > occurred_on:
        raise RuleViolation("meeting_in_future",
                            f"meeting_date {data['meeting_date']} is after {occurred_on}")


def check_suspension(data: Mapping[str, Any], today: date) -> None:
    if date.fromisoformat(data["effective_from"]) < today:
        raise RuleViolation(
            "suspension_retroactive",
            f"a suspension takes effect today ({today}) or later, not "
            f"{data['effective_from']}: it never changes how past events were judged")
