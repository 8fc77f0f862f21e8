"""The installed command's manners: an unusable database is one line on stderr and a
non-zero exit, never a traceback; choices are offered and checked; import shows progress."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from exim_ledger_bench.server import free_port

from projections.registry import NAMES
from tests.conftest import KEYS
from tests.support.factories import application
from tests.support.live_server import LiveServer, cli, ledger_env, migrated_sqlite

COMMANDS = (("keys", "create", "--role", "admin", "--name", "ops"), ("keys", "list"),
            ("rebuild", "deals"), ("project",), ("verify",), ("export",),
            ("deals", "unscreened"))


def assert_one_line_error(result: object, *fragments: str) -> None:
    returncode, stdout, stderr = (getattr(result, k) for k in ("returncode", "stdout", "stderr"))
    assert returncode != 0, stdout
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:"), stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unreachable_postgresql_is_one_line_without_its_password(command: tuple[str, ...]):
    url = f"postgresql://ledger:s3cret@127.0.0.1:{free_port()}/ledger"
    result = cli(ledger_env(url), *command)
    assert_one_line_error(result, "cannot use the database", "Connection refused")
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unmigrated_sqlite_file_is_one_line(tmp_path: Path, command: tuple[str, ...]):
    (tmp_path / "empty.db").touch()
    result = cli(ledger_env(f"sqlite:///{tmp_path / 'empty.db'}"), *command)
    assert_one_line_error(result, "exim-ledger migrate")


@pytest.mark.parametrize("url", ["mysql://root@localhost/ledger", "not a url", "sqlite://"])
def test_a_database_url_of_no_known_kind_is_one_line(url: str):
    assert_one_line_error(cli(ledger_env(url), "keys", "list"), "LEDGER_DATABASE_URL")


def test_an_invalid_setting_is_named():
    result = cli(ledger_env("sqlite:///x.db") | {"LEDGER_POOL_SIZE": "many"}, "keys", "list")
    assert_one_line_error(result, "LEDGER_POOL_SIZE")


def test_rebuild_help_names_every_projection_and_refuses_others(tmp_path: Path):
    shown = cli(ledger_env(migrated_sqlite(tmp_path)), "rebuild", "--help")
    assert shown.returncode == 0
    for name in NAMES:
        assert name in shown.stdout
    refused = cli(ledger_env(migrated_sqlite(tmp_path)), "rebuild", "nosuch")
    assert refused.returncode != 0 and "merkle" in refused.stderr


def test_a_key_role_is_one_of_the_known_ones(tmp_path: Path):
    env = ledger_env(migrated_sqlite(tmp_path))
    shown = cli(env, "keys", "create", "--help")
    for role in ("writer", "reader", "auditor", "admin", "origination", "licensing", "board",
                 "servicing"):
        assert role in shown.stdout
    refused = cli(env, "keys", "create", "--role", "boss", "--name", "x")
    said = " ".join(refused.stderr.replace("│", " ").split())
    assert refused.returncode == 2, refused.stderr
    assert "'boss' is not a role; the roles are writer, reader, auditor, admin, origination, " \
        "licensing, board, servicing" in said
    assert "Value error" not in said
    assert "boss" not in cli(env, "keys", "list").stdout


@pytest.fixture
def live_database_url(tmp_path: Path) -> str:
    return migrated_sqlite(tmp_path)


def test_verifying_an_unknown_deal_is_an_error(live_server: LiveServer):
    unknown = cli(live_server.env, "verify", "--deal-id", str(uuid.uuid4()))
    assert unknown.returncode != 0
    assert "no deal" in unknown.stderr and "verified" not in unknown.stderr
    with httpx.Client(base_url=live_server.url, timeout=10.0) as http:
        r = http.post("/v1/deals", json=application(),
                      headers={"Authorization": f"Bearer {KEYS['writer']}"})
        assert r.status_code == 201, r.text
    known = cli(live_server.env, "verify", "--deal-id", r.json()["deal_id"])
    assert known.returncode == 0 and "verified 1 events" in known.stderr


def test_import_shows_its_progress(live_server: LiveServer, tmp_path: Path):
    with httpx.Client(base_url=live_server.url, timeout=10.0) as http:
        for _ in range(3):
            r = http.post("/v1/deals", json=application(),
                          headers={"Authorization": f"Bearer {KEYS['writer']}"})
            assert r.status_code == 201, r.text
    exported = tmp_path / "ledger.jsonl"
    assert cli(live_server.env, "export", "-o", str(exported)).returncode == 0
    target = tmp_path / "copy"
    target.mkdir()
    imported = cli(ledger_env(migrated_sqlite(target)), "import", str(exported))
    assert imported.returncode == 0, imported.stderr
    assert "importing" in imported.stderr
    lines = len(exported.read_text().splitlines())
    assert f"{lines} lines" in imported.stderr
    assert "imported 5 events" in imported.stdout  # the two shipped policies, three deals
