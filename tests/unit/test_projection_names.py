"""The projection names the API documents are those the service runs."""

from projections.registry import NAMES, read_models


class _NoPolicies:
    def __call__(self) -> None:  # never asked: building read models reads no policy
        raise AssertionError


def test_the_documented_names_are_the_read_models_names() -> None:
    assert tuple(p.name for p in read_models(_NoPolicies())) == NAMES  # type: ignore[arg-type]
