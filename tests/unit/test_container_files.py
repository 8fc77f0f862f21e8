"""The Dockerfile and compose.yaml, read as a container engine would: the services and
what they run, and every path the image writes owned by the image's user."""

from __future__ import annotations

import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from service.integrity.signing import signing_key_path
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
LEDGER_SERVICES = ("migrate", "api", "projector")


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in lines if line and not line.startswith("#")]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile():
        if instruction == "ENV":
            env |= dict(item.split("=", 1) for item in shlex.split(args))
    return env


def last(instruction: str) -> str:
    return [args for name, args in dockerfile() if name == instruction][-1]


def owned_by_user() -> set[PurePosixPath]:
    """The directories a RUN line chowns to the image's final USER."""
    user = last("USER")
    owned: set[PurePosixPath] = set()
    for name, args in dockerfile():
        if name != "RUN":
            continue
        for command in args.split("&&"):
            words = shlex.split(command)
            if words[:1] == ["chown"] and words[1].split(":")[0] == user:
                owned |= {PurePosixPath(w) for w in words[2:] if w.startswith("/")}
    return owned


def written_paths(env: dict[str, str], workdir: str) -> list[PurePosixPath]:
    """Where a ledger process with ``env`` writes: the SQLite file's directory, the
    signing key's (unless it is a secret, which it only reads), the metrics directory,
    and its working directory."""
    settings = Settings(**{k.removeprefix("LEDGER_").lower(): v for k, v in env.items()
                           if k.startswith("LEDGER_")})
    paths = [PurePosixPath(workdir)]
    if not settings.is_postgres:
        paths.append(PurePosixPath(workdir) / PurePosixPath(settings.sqlite_path).parent)
    key = PurePosixPath(workdir) / PurePosixPath(signing_key_path(settings))
    if PurePosixPath("/run/secrets") not in key.parents:
        paths.append(key.parent)
    if "PROMETHEUS_MULTIPROC_DIR" in env:
        paths.append(PurePosixPath(env["PROMETHEUS_MULTIPROC_DIR"]))
    return paths


def assert_writable(paths: list[PurePosixPath]) -> None:
    owned = owned_by_user()
    for path in paths:
        assert any(path == d or d in path.parents for d in owned), \
            f"{path} is not writable by user {last('USER')} (owned: {sorted(map(str, owned))})"


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def service_env(name: str) -> dict[str, str]:
    return image_env() | {k: str(v) for k, v in compose()["services"][name]["environment"].items()}


def test_the_image_runs_as_its_own_user_and_writes_only_where_it_may():
    assert last("USER") == "ledger" and "--uid 10001 ledger" in last("RUN")
    assert_writable(written_paths(image_env(), last("WORKDIR")))
    assert '"/data"' in last("VOLUME")


def test_the_ledger_services_write_only_where_the_image_user_may():
    for name in LEDGER_SERVICES:
        assert_writable(written_paths(service_env(name), last("WORKDIR")))


def test_compose_runs_postgres_an_api_of_two_workers_and_a_projector():
    services = compose()["services"]
    assert set(services) == {"postgres", *LEDGER_SERVICES}
    api, projector = services["api"], services["projector"]
    assert api["command"][:2] == ["exim-ledger", "serve"]
    assert api["command"][api["command"].index("--workers") + 1] == "2"
    assert api["environment"]["LEDGER_PROJECTIONS_IN_PROCESS"] == "false"
    assert projector["command"] == ["exim-ledger", "project"]
    assert services["migrate"]["command"] == ["exim-ledger", "migrate"]
    for name in LEDGER_SERVICES:
        url = Settings(database_url=service_env(name)["LEDGER_DATABASE_URL"]).url
        assert (url.host, url.database) == ("postgres", "ledger")
        assert services[name]["build"] == "."
    for name in ("api", "projector"):
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_healthcheck():
    services = compose()["services"]
    for name in ("postgres", "api", "projector"):
        check = services[name]["healthcheck"]["test"]
        assert check[0] in ("CMD", "CMD-SHELL") and len(check) > 1
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    assert "8000" in services["api"]["ports"][0]


def test_the_signing_key_is_a_secret_and_the_data_lives_on_named_volumes():
    spec = compose()
    api = spec["services"]["api"]
    assert api["secrets"] == ["signing_key"]
    assert api["environment"]["LEDGER_SIGNING_KEY_FILE"] == "/run/secrets/signing_key"
    assert "file" in spec["secrets"]["signing_key"]
    assert spec["services"]["postgres"]["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert set(spec["volumes"]) == {"pgdata"}
    assert not (ROOT / spec["secrets"]["signing_key"]["file"]).exists(), \
        "a signing key must never be committed"
