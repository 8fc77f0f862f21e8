"""The program stream: every adopted policy version, as ``PolicyAdopted`` events.

Which destinations benefit is decided later, by people, so each policy version is an
event on one stream (id ``00000000-0000-0000-0000-000000000000``): hashed, chained and in
the global log like any deal event, but not a deal. The stream folds into the policy
book that every instance judges by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from domain.errors import RuleViolation
from domain.policy import PolicyBook, PolicyVersion

PROGRAM_ID = UUID(int=0)
POLICY_ADOPTED = "PolicyAdopted"
POLICY_ADOPTED_TOPIC = "domain.program:Program.PolicyAdopted"


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


class Program:
    """The program stream folded: its adoptions in order, and the policy book they make."""

    def __init__(self, adoptions: Iterable[Adoption] = ()) -> None:
        self.adoptions = list(adoptions)
        self.book = PolicyBook(a.version for a in self.adoptions)

    @classmethod
    def from_envelopes(cls, envelopes: Iterable[Mapping[str, Any]]) -> Program:
        return cls(
            Adoption(PolicyVersion.from_data(ev["data"]), ev["version"], ev["position"],
                     ev["event_id"], ev["recorded_at"], ev["actor"], ev["hash"])
            for ev in envelopes
        )

    def adopting(self, policy: PolicyVersion) -> Program:
        """This program with ``policy`` adopted next (not yet stored)."""
        pending = Adoption(policy, self.version + 1, 0, "", "", "", "")
        return Program([*self.adoptions, pending])

    @property
    def version(self) -> int:
        """The stream's version: how many versions were adopted."""
        return len(self.adoptions)

    def check_adoption(self, policy: PolicyVersion, today: date, *,
                       retroactive: bool = False) -> None:
        """The rules of ``POST /v1/policies`` in SPEC order. ``retroactive`` admits an
        effective date in the past (a bootstrap file on a ledger with no deal event)."""
        if not retroactive and policy.effective_from < today:
            raise RuleViolation(
                "policy_retroactive",
                f"policy {policy.id} would take effect on {policy.effective_from}, before "
                f"today ({today}): a new policy never changes how past events were judged")
        if self.book.by_id(policy.id) is not None:
            raise RuleViolation("policy_id_taken", f"a policy {policy.id!r} was already adopted",
                                status=409)
        taken = next((v for v in self.book.versions
                      if v.effective_from == policy.effective_from), None)
        if taken is not None:
            raise RuleViolation(
                "policy_date_taken",
                f"policy {taken.id!r} already takes effect on {policy.effective_from} "
                "(one version a day)", status=409)
