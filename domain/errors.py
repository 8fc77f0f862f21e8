"""Domain errors: each carries a stable rule ``code`` the service maps to problem+json."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the domain raises on purpose."""

    code: str
    detail: str
    status: int
    extra: dict[str, object]

    def __init__(self, code: str, detail: str, *, status: int = 422, **extra: object) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status
        self.extra = dict(extra)


class RuleViolation(LedgerError):
    """A business rule refused the event (422; ``duplicate_application`` is 409)."""


class NotFound(LedgerError):
    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__("not_found", detail, status=404, **extra)


class VersionConflict(LedgerError):
    def __init__(self, detail: str, *, current_version: int, **extra: object) -> None:
        super().__init__(
            "version_conflict", detail, status=409, current_version=current_version, **extra
        )

    @property
    def current_version(self) -> int:
        value = self.extra["current_version"]
        assert isinstance(value, int)
        return value
