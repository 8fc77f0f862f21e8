"""Key bootstrap never brings back or silently changes a stored key, and every key change
leaves a trail entry naming who, when and from where; on SQLite and PostgreSQL."""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from service.cli import app as cli
from service.db import create_engine
from service.keys import Actor, KeyStore
from service.settings import Settings
from tests.conftest import BOOTSTRAP, KEYS

OPERATOR = Actor("ops", "cli")
DASHBOARD = "reader:dashboard:dashboard-secret-0123456789"


@pytest.fixture
def store(database_url: str) -> Iterator[KeyStore]:
    engine = create_engine(Settings(database_url=database_url))
    yield KeyStore(engine, cache_seconds=0)
    engine.dispose()


def actions(store: KeyStore, name: str) -> list[tuple[str, str, str]]:
    return [(e["action"], e["actor"], e["origin"]) for e in store.trail(name)]


def refusal(store: KeyStore, name: str) -> str:
    [entry] = [e for e in store.trail(name) if e["action"] == "bootstrap_refused"]
    return str(entry["detail"])


def test_bootstrap_creates_the_keys_it_does_not_find_and_records_them(store: KeyStore):
    assert store.load_bootstrap(BOOTSTRAP) == [f"{role}-key" for role in KEYS]
    assert store.authenticate(KEYS["writer"]).name == "writer-key"  # type: ignore[union-attr]
    user = getpass.getuser()
    assert actions(store, "writer-key") == [("created", user, "bootstrap")]
    assert store.load_bootstrap(BOOTSTRAP) == []
    assert actions(store, "writer-key") == [("created", user, "bootstrap")]


def test_bootstrap_never_brings_back_a_revoked_key(
    store: KeyStore, caplog: pytest.LogCaptureFixture
):
    store.load_bootstrap(DASHBOARD)
    store.revoke("dashboard", OPERATOR)
    with caplog.at_level(logging.WARNING, logger="exim_ledger.keys"):
        assert store.load_bootstrap(DASHBOARD) == []
    assert store.authenticate("dashboard-secret-0123456789") is None
    assert [k["revoked_at"] is not None for k in store.list()] == [True]
    assert "'dashboard'" in caplog.text and "revoked" in caplog.text
    assert [a for a, _, _ in actions(store, "dashboard")] == [
        "created", "revoked", "bootstrap_refused"]
    assert "never brought back" in refusal(store, "dashboard")


def test_bootstrap_keeps_a_stored_keys_secret_and_says_how_to_rotate(
    store: KeyStore, caplog: pytest.LogCaptureFixture
):
    store.load_bootstrap(DASHBOARD)
    with caplog.at_level(logging.WARNING, logger="exim_ledger.keys"):
        store.load_bootstrap("reader:dashboard:another-secret-0123456789")
    assert store.authenticate("dashboard-secret-0123456789") is not None
    assert store.authenticate("another-secret-0123456789") is None
    assert "secret differs" in caplog.text and "another-secret" not in caplog.text
    assert "create one under a new name" in refusal(store, "dashboard")


def test_bootstrap_keeps_a_stored_keys_role(store: KeyStore):
    store.load_bootstrap(DASHBOARD)
    store.load_bootstrap("admin:dashboard:dashboard-secret-0123456789")
    assert store.authenticate("dashboard-secret-0123456789").role == "reader"  # type: ignore[union-attr]
    assert "the stored role reader is kept, not admin" in refusal(store, "dashboard")


def test_bootstrap_refuses_a_new_name_with_another_keys_secret(store: KeyStore):
    store.load_bootstrap(DASHBOARD)
    assert store.load_bootstrap("admin:boss:dashboard-secret-0123456789") == []
    assert [k["name"] for k in store.list()] == ["dashboard"]
    assert "already another key's" in refusal(store, "boss")


def test_the_trail_pages_by_id_and_names_one_key(store: KeyStore):
    store.load_bootstrap(BOOTSTRAP)
    store.create("reader", "x", OPERATOR)
    store.revoke("x", OPERATOR)
    every = store.trail()
    assert [e["id"] for e in every] == sorted(e["id"] for e in every)
    assert store.trail(after=every[1]["id"], limit=2) == every[2:4]
    [created, revoked] = store.trail("x")
    assert (created["action"], created["detail"]) == ("created", "role reader")
    assert (revoked["actor"], revoked["origin"]) == ("ops", "cli")
    assert created["at"] <= revoked["at"] and revoked["at"].endswith("Z")


def keys_cli(database_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["keys", *args], env={"LEDGER_DATABASE_URL": database_url})


def test_the_command_line_records_the_operating_system_user(store: KeyStore, database_url: str):
    assert keys_cli(database_url, "create", "--role", "auditor", "--name", "ext").exit_code == 0
    assert keys_cli(database_url, "revoke", "ext").exit_code == 0
    again = keys_cli(database_url, "revoke", "ext")
    assert again.exit_code == 1 and "already revoked" in again.output
    user = getpass.getuser()
    assert actions(store, "ext") == [("created", user, "cli"), ("revoked", user, "cli")]
    shown = keys_cli(database_url, "trail", "--name", "ext")
    assert shown.exit_code == 0 and shown.output.count(user) == 2, shown.output


def test_the_key_list_never_shows_a_secret_or_its_digest(store: KeyStore, database_url: str):
    store.load_bootstrap(BOOTSTRAP)
    with store.engine.connect() as conn:
        digests = conn.execute(sa.text("SELECT secret_hash FROM api_keys")).scalars().all()
    listed = keys_cli(database_url, "list").output
    assert "writer-key" in listed
    for hidden in [*KEYS.values(), *digests]:
        assert hidden[:12] not in listed


def test_the_trail_and_the_list_show_whole_times_on_80_columns(store: KeyStore,
                                                               database_url: str):
    long_name = "an-external-auditor-with-a-name-longer-than-the-terminal-is-wide"
    assert keys_cli(database_url, "create", "--role", "auditor", "--name", long_name
                    ).exit_code == 0
    assert keys_cli(database_url, "revoke", long_name).exit_code == 0
    narrow = {"LEDGER_DATABASE_URL": database_url, "COLUMNS": "80"}
    trail = CliRunner().invoke(cli, ["keys", "trail"], env=narrow)
    listed = CliRunner().invoke(cli, ["keys", "list"], env=narrow)
    assert trail.exit_code == 0 and listed.exit_code == 0
    assert max(map(len, trail.output.splitlines() + listed.output.splitlines())) <= 80
    for entry in store.trail(long_name):
        assert entry["at"] in trail.output
    [key] = [k for k in store.list() if k["name"] == long_name]
    assert key["created_at"] in listed.output and key["revoked_at"] in listed.output
    assert "…" not in trail.output + listed.output


def test_the_trail_and_the_list_print_json_as_the_api_answers(store: KeyStore,
                                                              database_url: str):
    assert keys_cli(database_url, "create", "--role", "reader", "--name", "dash").exit_code == 0
    assert keys_cli(database_url, "revoke", "dash").exit_code == 0
    listed = keys_cli(database_url, "list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.output) == {"keys": store.list()}
    [created, revoked] = store.trail("dash")
    page = keys_cli(database_url, "trail", "--json", "--after", str(created["id"]))
    assert page.exit_code == 0
    assert json.loads(page.output) == {"entries": [revoked], "next_after": revoked["id"]}
    empty = keys_cli(database_url, "trail", "--json", "--after", str(revoked["id"]))
    assert json.loads(empty.output) == {"entries": [], "next_after": revoked["id"]}
