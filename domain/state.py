"""Derived deal state (SPEC "Derived deal state"), shared by the aggregate and the projections.

``DealState`` holds the facts its events recorded, as snapshot-friendly values (str,
int, bool, None, Decimal, list, dict). ``evolve`` is the single way it changes: the
``Deal`` aggregate's events call it, and the projections call it on envelopes, so both
always agree. What depends on policy (which ECCNs are controlled, the license status,
the stage) is judged by the ``*_under`` methods, given the version of the deal's latest
event: a pure fold of stored events.

The state keeps running totals, never a copy of the deal's history: its size does not
grow with the number of money events (only ``reversed_versions`` grows, with reversals).
Folding an ``EventReversed`` therefore takes its target event from the caller.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, get_type_hints

from domain import views
from domain.licensing import (
    latest_screenings,
    license_gate,
    license_key,
    license_status,
    party_key,
    revocation,
    screening_key,
)
from domain.money import (
    FIGURES,
    MONEY_EFFECTS,
    REVERSAL,
    ZERO,
    MissingReversalTarget,
    ReversalTarget,
    format_money,
    money_effects,
)
from domain.policy import PolicyBook, PolicyVersion
from domain.sizes import estimated_bytes

__all__ = ["AMENDABLE", "FIGURES", "MONEY_EFFECTS", "ZERO", "DealState", "ReversalTarget",
           "Stamp", "estimated_bytes", "format_money", "money_effects", "normal_items"]

AMENDABLE = ("contract_value", "financed_amount", "tenor_years", "items", "us_content_pct")


def normal_items(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Items with their ECCNs upper case: ECCNs compare without regard to case."""
    return [{**item, "eccn": str(item["eccn"]).upper()} for item in items]


@dataclass(frozen=True)
class Stamp:
    """What the envelope says about an event beyond its payload."""

    version: int
    occurred_at: str
    recorded_at: str | None
    policy_version: str | None


class DealState:
    application_number: str
    exporter: dict[str, str]
    buyer: dict[str, str]
    instrument: str
    term: str
    tenor_years: int
    contract_value: Decimal
    us_content_pct: str | None
    items: list[dict[str, Any]]
    amendments: list[dict[str, Any]]
    licenses: list[dict[str, Any]]
    last_license_status: str | None
    board_status: str
    board_vote: dict[str, Any] | None
    closed: bool
    cancellation_reason: str | None
    financed: bool
    financing: dict[str, Any] | None
    requested: Decimal
    approved: Decimal
    committed: Decimal
    disbursed: Decimal
    principal_repaid: Decimal
    interest_received: Decimal
    claims_paid: Decimal
    recovered: Decimal
    cancelled_amount: Decimal
    cancels_rest: bool
    reversed_versions: list[int]
    latest_occurred_at: str
    last_occurred_at: str
    last_policy_version: str | None
    applied_at: str | None
    updated_at: str | None
    # v3 (a state folded before them has the defaults: these are never changed in place)
    meeting_dates: list[str] = []  # noqa: RUF012 - replaced, never mutated
    board_terms: dict[str, Any] | None = None  # what the latest approval covered
    notice: dict[str, Any] | None = None  # the latest CongressionalNotified
    financing_policy: str | None = None  # the policy version stored on DealFinanced
    end_user: dict[str, str] | None = None  # None: the buyer is the end user
    screenings: dict[str, dict[str, Any]] = {}  # noqa: RUF012 - (party|list) -> the latest
    applied_occurred_at: str | None = None  # the DealApplied's occurred_at: its business date

    def evolve(self, type_name: str, data: Mapping[str, Any], stamp: Stamp,
               target: ReversalTarget | None = None) -> None:
        """Mutate state for one accepted event; never fails on a valid payload. An
        ``EventReversed`` needs ``target``, the event it names as stored (the state keeps
        no copy of its money events): without it, ``MissingReversalTarget``."""
        if type_name == "DealApplied":
            self._on_deal_applied(data)
            self.applied_at = stamp.recorded_at
            self.applied_occurred_at = stamp.occurred_at
            self.latest_occurred_at = stamp.occurred_at
        elif type_name in MONEY_EFFECTS:
            self._add_money(type_name, data)
        elif type_name == REVERSAL:
            self._on_event_reversed(data, target)
        elif type_name == "CommerceLicenseRevoked":
            self._on_license_revoked(data, stamp.occurred_at[:10])
        elif type_name == "DealFinanced":
            self._on_deal_financed(data)
            self.financing_policy = stamp.policy_version
        elif type_name == "PartyScreened":
            self._on_party_screened(data, stamp.version)
        else:
            _HANDLERS[type_name](self, data)
        self.latest_occurred_at = max(self.latest_occurred_at, stamp.occurred_at)
        self.last_occurred_at = stamp.occurred_at
        self.last_policy_version = stamp.policy_version
        self.updated_at = stamp.recorded_at

    def own_mutables(self) -> None:
        """After a shallow copy: take copies of what ``evolve`` changes in place (the lists
        it appends to, the licenses it updates). Every other value
        ``evolve`` only ever replaces, so a shallow copy may share it."""
        self.amendments = list(self.amendments)
        self.licenses = [dict(license_) for license_ in self.licenses]
        self.reversed_versions = list(self.reversed_versions)

    # -- persistent fields ---------------------------------------------------------------

    @staticmethod
    def state_fields() -> tuple[str, ...]:
        """The names of the state's persistent fields: all a snapshot, a stored state row
        or a cache entry needs. Any other attribute (the aggregate's own, a transient one)
        is not deal state."""
        return _STATE_FIELDS

    def dump(self) -> dict[str, Any]:
        """The persistent fields as JSON values (amounts as strings), for a state row.
        Nested lists and dicts are the state's own: serialise the dump at once."""
        values = vars(self)
        return {name: str(values[name]) if name in _DECIMALS else values[name]
                for name in _STATE_FIELDS if name in values}

    @classmethod
    def from_dump(cls, values: Mapping[str, Any]) -> DealState:
        """The state a ``dump`` gave; keys that are no field (a row from before a field
        was dropped, e.g. ``money_events``) are left out."""
        state = DealState()
        for name in _STATE_FIELDS:
            if name in values:
                value = values[name]
                setattr(state, name, Decimal(value) if name in _DECIMALS else value)
        return state

    # -- mutations, one per event type --------------------------------------------------

    def _on_deal_applied(self, data: Mapping[str, Any]) -> None:
        self.application_number = data["application_number"]
        self.exporter = dict(data["exporter"])
        self.buyer = dict(data["buyer"])
        self.end_user = dict(data["end_user"]) if "end_user" in data else None
        self.screenings = {}
        self.instrument = data["instrument"]
        self.term = data["term"]
        self._set_terms(data)
        self.amendments = []
        self.licenses = []
        self.last_license_status = None
        self.board_status = "pending"
        self.board_vote = None
        self.closed = False
        self.cancellation_reason = None
        self.financed = False
        self.financing = None
        self.approved = self.committed = self.disbursed = self.principal_repaid = ZERO
        self.interest_received = self.claims_paid = self.recovered = ZERO
        self.cancelled_amount = ZERO
        self.cancels_rest = False
        self.reversed_versions = []
        self.meeting_dates = []
        self.board_terms = None
        self.notice = None
        self.financing_policy = None

    def _set_terms(self, data: Mapping[str, Any]) -> None:
        self.contract_value = Decimal(data["contract_value"])
        self.requested = Decimal(data["financed_amount"])
        self.tenor_years = data["tenor_years"]
        self.items = normal_items(data["items"])
        self.us_content_pct = data.get("us_content_pct")

    def _on_deal_amended(self, data: Mapping[str, Any]) -> None:
        self._set_terms({**self.terms(), **data})
        changed = [name for name in AMENDABLE if name in data]
        self.amendments.append({"changed": changed, "reason": data["reason"]})
        if self.board_status == "approved" and self.exceeds_board_terms():
            self.board_status = "stale"

    def _on_license_requested(self, data: Mapping[str, Any]) -> None:
        eccns = [e.upper() for e in data["eccns"]]
        self.licenses.append({"application_ref": data["application_ref"], "eccns": eccns,
                              "requested_eccns": list(eccns), "status": "requested"})
        self.last_license_status = "requested"

    def _on_license_approved(self, data: Mapping[str, Any]) -> None:
        license_ = self.license(data["application_ref"])
        if license_ is not None:
            license_.update(status="approved", license_number=license_key(data["license_number"]),
                            eccns=[e.upper() for e in data["eccns"]],
                            valid_until=data["valid_until"])
            for name in ("conditions", "lines"):
                if name in data:
                    license_[name] = copy.deepcopy(list(data[name]))
            if "lines" in data:
                license_["lines"] = normal_items(license_["lines"])
            if "consignee" in data:
                license_["consignee"] = dict(data["consignee"])
        self.last_license_status = "approved"

    def _on_license_denied(self, data: Mapping[str, Any]) -> None:
        license_ = self.license(data["application_ref"])
        if license_ is not None:
            license_.update(status="denied", reason=data["reason"])
        self.last_license_status = "denied"

    def _on_license_revoked(self, data: Mapping[str, Any], occurred_on: str) -> None:
        """Without ``effective_date`` a revocation takes effect on its own date; (v3) one
        with an earlier date than the license's current one replaces it."""
        effective = data.get("effective_date", occurred_on)
        for license_ in self.licenses_numbered(data["license_number"]):
            if revocation(license_, effective):
                license_["revoked"] = {"effective_date": effective, "reason": data["reason"]}

    def _on_party_screened(self, data: Mapping[str, Any], version: int) -> None:
        self.screenings = {**self.screenings, screening_key(data["party"], data["list"]): {
            **data, "version": version}}

    def _on_board_voted(self, data: Mapping[str, Any]) -> None:
        self.board_vote = copy.deepcopy(dict(data))
        self.board_status = data["decision"]
        approved = data["decision"] == "approved"
        self.approved = Decimal(data["approved_amount"]) if approved else ZERO
        self.meeting_dates = sorted({*self.meeting_dates, data["meeting_date"]})
        self.board_terms = self.covered_terms() if approved else None

    def _on_congressional_notified(self, data: Mapping[str, Any]) -> None:
        self.notice = dict(data)

    def _on_deal_financed(self, data: Mapping[str, Any]) -> None:
        self.financed = True
        self.financing = copy.deepcopy(dict(data))
        self.committed = Decimal(data["amount"])

    def _add_money(self, type_name: str, data: Mapping[str, Any]) -> None:
        for figure, field in MONEY_EFFECTS[type_name]:
            setattr(self, figure, getattr(self, figure) + Decimal(data[field]))

    def _on_event_reversed(self, data: Mapping[str, Any], target: ReversalTarget | None) -> None:
        version = data["version"]
        if target is None:
            raise MissingReversalTarget(version)
        if target.version != version:
            raise ValueError(f"a reversal of version {version} given version {target.version}")
        effects = target.effects
        if effects is None or version in self.reversed_versions:
            return  # refused by the rules: a stored reversal never names one
        for figure, amount in self.reversal_effects(effects).items():
            setattr(self, figure, amount)
        self.reversed_versions.append(version)

    def _on_deal_cancelled(self, data: Mapping[str, Any]) -> None:
        self.cancellation_reason = data["reason"]
        if not self.financed:
            self.closed = True
        elif "amount" in data:
            self.cancelled_amount += Decimal(data["amount"])
        else:
            self.cancels_rest = True

    # -- derived figures ----------------------------------------------------------------

    def terms(self) -> dict[str, Any]:
        """The amendable terms as payload values."""
        terms = {"contract_value": format_money(self.contract_value),
                 "financed_amount": format_money(self.requested),
                 "tenor_years": self.tenor_years, "items": copy.deepcopy(self.items)}
        if self.us_content_pct is not None:
            terms["us_content_pct"] = self.us_content_pct
        return terms

    def quantities(self) -> dict[str, int]:
        """The total quantity of each ECCN over the deal's items."""
        totals: dict[str, int] = {}
        for item in self.items:
            totals[item["eccn"]] = totals.get(item["eccn"], 0) + item["quantity"]
        return totals

    def covered_terms(self) -> dict[str, Any]:
        """What an approving vote covers: the financed amount, the tenor, the quantities."""
        return {"financed_amount": format_money(self.requested), "tenor_years": self.tenor_years,
                "quantities": self.quantities()}

    def exceeds_board_terms(self) -> bool:
        """Whether the current terms go beyond what the latest approval covered: a higher
        financed amount, another tenor, more of some ECCN (one new to the deal rises from
        0). Lowering amounts or quantities keeps the approval."""
        covered = self.board_terms
        if covered is None:
            return False
        quantities: dict[str, int] = covered["quantities"]
        return (self.requested > Decimal(covered["financed_amount"])
                or self.tenor_years != covered["tenor_years"]
                or any(q > quantities.get(e, 0) for e, q in self.quantities().items()))

    def license(self, application_ref: str) -> dict[str, Any] | None:
        return next((lic for lic in self.licenses if lic["application_ref"] == application_ref),
                    None)

    def licenses_numbered(self, license_number: str) -> list[dict[str, Any]]:
        number = license_key(license_number)
        return [lic for lic in self.licenses
                if lic["status"] == "approved" and license_key(lic["license_number"]) == number]

    @property
    def license_numbers(self) -> frozenset[str]:
        """The numbers of the licenses approved on the deal, upper case."""
        return frozenset(license_key(lic["license_number"]) for lic in self.licenses
                         if lic["status"] == "approved")

    @property
    def end_party(self) -> dict[str, str]:
        """The end user: the buyer unless the application named another."""
        return self.end_user if self.end_user is not None else self.buyer

    @property
    def one_party(self) -> bool:
        """Whether the end user is the buyer (by default, or named alike)."""
        return self.end_user is None or party_key(self.end_user) == party_key(self.buyer)

    def parties(self) -> list[tuple[str, dict[str, str]]]:
        """The parties screened and judged by destination: the buyer, and the end user
        when it is another."""
        if self.one_party:
            return [("buyer", self.buyer)]
        assert self.end_user is not None
        return [("buyer", self.buyer), ("end_user", self.end_user)]

    def destinations(self) -> list[str]:
        """The countries the destination rules judge: the buyer's and the end user's."""
        return list(dict.fromkeys(party["country"] for _, party in self.parties()))

    def latest_screenings(self, party: str) -> list[dict[str, Any]]:
        return [dict(s) for s in latest_screenings(self.screenings, party, self.one_party)]

    def reversal_effects(self, effects: Mapping[str, str]) -> dict[str, Decimal]:
        """The figures a money event's reversal leaves (its amounts taken back out), given
        its ``money_effects``."""
        return {figure: getattr(self, figure) - Decimal(amount)
                for figure, amount in effects.items() if figure != "type"}

    @property
    def eccns(self) -> list[str]:
        return sorted({item["eccn"] for item in self.items})

    @property
    def categories(self) -> list[str]:
        return sorted({item["category"] for item in self.items})

    @property
    def cancelled(self) -> Decimal:
        """A cancellation without an amount cancels whatever is not disbursed, for good."""
        return self.committed - self.disbursed if self.cancels_rest else self.cancelled_amount

    @property
    def outstanding(self) -> Decimal:
        return self.disbursed - self.principal_repaid - self.claims_paid

    @property
    def undisbursed(self) -> Decimal:
        return self.committed - self.disbursed - self.cancelled

    @property
    def exposure(self) -> Decimal:
        return self.outstanding + self.undisbursed

    # -- judged under a policy version ---------------------------------------------------

    def policy_in(self, book: PolicyBook) -> PolicyVersion:
        """The version the deal's latest event names: what a reader judges it under."""
        day = date.fromisoformat(self.last_occurred_at[:10])
        return book.resolve(self.last_policy_version, day)

    def financing_policy_in(self, book: PolicyBook) -> PolicyVersion | None:
        """The version stored on the deal's ``DealFinanced``, if financed."""
        if self.financing_policy is None:
            return None
        return book.resolve(self.financing_policy, date.fromisoformat(self.last_occurred_at[:10]))

    def gated(self, *policies: PolicyVersion | None) -> list[str]:
        """The deal's ECCNs controlled under any of ``policies``."""
        return sorted({e for p in policies if p is not None for e in p.controlled(self.eccns)})

    def license_gate(self, controlled: Iterable[str], *dates: str) -> tuple[str, str] | None:
        """SPEC's license gate for the ``controlled`` ECCNs, valid on each of ``dates``."""
        return license_gate(self.licenses, self.items, controlled, dates)

    def license_status_under(self, policy: PolicyVersion,
                             at_financing: PolicyVersion | None = None) -> str:
        """Judged on the deal's latest event date, under the policy of that event and (v3)
        the one stored on its financing: what was gated at financing stays gated."""
        return license_status(self.licenses, self.items, self.gated(policy, at_financing),
                              self.last_occurred_at[:10], self.last_license_status)

    def stage_in(self, book: PolicyBook) -> str:
        return self.stage_under(self.policy_in(book), self.financing_policy_in(book))

    def view_in(self, book: PolicyBook, deal_id: str, version: int, *,
                shared: bool = False) -> dict[str, Any]:
        return self.view_under(self.policy_in(book), deal_id, version, shared=shared,
                               at_financing=self.financing_policy_in(book))

    def stage_under(self, policy: PolicyVersion,
                    at_financing: PolicyVersion | None = None) -> str:
        return views.stage(self, policy, at_financing)

    def view_under(self, policy: PolicyVersion, deal_id: str, version: int, *,
                   shared: bool = False, at_financing: PolicyVersion | None = None
                   ) -> dict[str, Any]:
        """The API's view of the deal. With ``shared`` its nested lists and dicts are the
        state's own, not copies: for a caller that serialises the view at once."""
        return views.view(self, policy, deal_id, version, shared, at_financing)


_HANDLERS = {
    "DealAmended": DealState._on_deal_amended,
    "LicenseRequested": DealState._on_license_requested,
    "CommerceLicenseApproved": DealState._on_license_approved,
    "CommerceLicenseDenied": DealState._on_license_denied,
    "BoardVoted": DealState._on_board_voted,
    "CongressionalNotified": DealState._on_congressional_notified,
    "DealCancelled": DealState._on_deal_cancelled,
}

_STATE_FIELDS: tuple[str, ...] = tuple(DealState.__annotations__)
_DECIMALS = frozenset(name for name, kind in get_type_hints(DealState).items()
                      if kind is Decimal)
