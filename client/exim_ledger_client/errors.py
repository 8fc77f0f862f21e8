"""What a call raises for an answer it cannot use: ``LedgerProblem``, and
``LedgerUnavailable`` when no answer came."""

from __future__ import annotations

from typing import Any

import httpx


class LedgerProblem(Exception):
    """An RFC 9457 problem the ledger answered with: ``code`` is a rule code (such as
    ``destination_embargoed``), ``validation_error`` (``errors`` then names each bad field),
    ``version_conflict``, ``not_found``, ... ``body`` holds every member, e.g. a batch's
    ``index`` or a conflict's ``current_version``. An error answer that is no problem (from
    a proxy, say) becomes one with the code ``http_error``."""

    def __init__(self, status: int, code: str, detail: str,
                 errors: list[dict[str, str]] | None = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or []
        self.body = body or {}

    @classmethod
    def from_response(cls, response: httpx.Response) -> LedgerProblem:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("code"), str):
            text = response.text.strip()[:200] or response.reason_phrase
            return cls(response.status_code, "http_error", text)
        return cls(response.status_code, body["code"], str(body.get("detail", "")),
                   body.get("errors"), body)


class LedgerUnavailable(LedgerProblem):
    """The ledger could not be reached (a connection refused or dropped, a timeout), after
    the client's retries. A POST may or may not have been recorded: ``idempotency_key``
    is the key it was sent with (None for a read); post it again later with that key
    (``idempotency_key=``) and it is recorded at most once. ``__cause__`` is httpx's
    error."""

    def __init__(self, detail: str, idempotency_key: str | None = None) -> None:
        super().__init__(503, "ledger_unavailable", detail)
        self.idempotency_key = idempotency_key
