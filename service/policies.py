"""``LEDGER_POLICY_FILE``: policy versions to bootstrap onto the ledger at start.

Once adopted, a version is read from the ledger only (SPEC §2 "Policy is on the ledger");
the file can add versions, never change one.
"""

from __future__ import annotations

import json

from domain.errors import LedgerError
from domain.policy import PolicyVersion
from service.api.schemas import POLICY_FILE, parse
from service.ledger.commands import InvalidRequest


class PolicyFileError(LedgerError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__("policy_file_invalid", f"LEDGER_POLICY_FILE {path}: {reason}")


def load_policy_file(path: str | None) -> list[PolicyVersion]:
    """The versions the file lists, checked like ``POST /v1/policies`` bodies."""
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as e:
        raise PolicyFileError(path, f"cannot be read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PolicyFileError(path, f"not valid JSON ({e})") from None
    try:
        versions = [body.version() for body in parse(POLICY_FILE, raw)]
    except InvalidRequest as e:
        errors: list[dict[str, str]] = e.extra["errors"]  # type: ignore[assignment]
        problems = "; ".join(f"{err['field']}: {err['message']}" for err in errors)
        raise PolicyFileError(path, f"expected a list of policy versions: {problems}") from None
    for i, version in enumerate(versions):
        for earlier in versions[:i]:
            if version.id == earlier.id or version.effective_from == earlier.effective_from:
                raise PolicyFileError(path, f"entries {versions.index(earlier)} and {i} share "
                                            "an id or an effective date")
    return versions
