"""Logs and metrics of a real ``exim-ledger serve``: JSON lines with the request's fields,
``X-Request-ID`` on every response, and Prometheus counts summed across workers."""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from exim_ledger_bench.server import serve
from prometheus_client.mmap_dict import MmapedDict

from projections.registry import NAMES
from service.cli.server import prepare_metrics_dir
from tests.conftest import KEYS
from tests.support.factories import application
from tests.support.live_server import ledger_env, migrated_sqlite

WRITER = {"Authorization": f"Bearer {KEYS['writer']}"}


def json_lines(log: Path) -> list[dict[str, object]]:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # each line must be one JSON object


def test_json_logs_carry_the_request_fields_one_object_a_line(tmp_path: Path):
    env = ledger_env(migrated_sqlite(tmp_path)) | {"LEDGER_LOG_FORMAT": "json",
                                                    "LEDGER_LOG_LEVEL": "info"}
    with serve(env, tmp_path) as url, httpx.Client(base_url=url, timeout=10.0) as http:
        r = http.post("/v1/deals", json=application(), headers={
            **WRITER, "X-Request-ID": "req-42", "X-Correlation-ID": "corr-7"})
        assert r.status_code == 201, r.text
        assert r.headers["x-request-id"] == "req-42"
        refused = http.get("/v1/events")
        assert refused.status_code == 401
    records = json_lines(tmp_path / "server.log")
    access = [r for r in records if r.get("logger") == "exim_ledger.access"]
    write = next(r for r in access if r["request_id"] == "req-42")
    assert write["correlation_id"] == "corr-7" and write["actor"] == r.json()["actor"]
    assert (write["method"], write["path"], write["status"]) == ("POST", "/v1/deals", 201)
    assert write["deal_id"] == r.json()["deal_id"]
    assert write["position"] == int(r.headers["x-ledger-position"])
    assert isinstance(write["duration_ms"], float) and write["duration_ms"] > 0
    anonymous = next(r for r in access if r["request_id"] == refused.headers["x-request-id"])
    assert anonymous["status"] == 401 and anonymous["actor"] is None
    assert "deal_id" not in anonymous
    assert not [r for r in records if r.get("logger") == "uvicorn.access"]  # no second copy
    assert [r for r in records if r.get("logger") == "uvicorn.error"]  # uvicorn's startup
    assert not [r for r in records if "color_message" in r]  # its ANSI copy of a message


def test_the_access_log_is_off_below_its_level(tmp_path: Path):
    env = ledger_env(migrated_sqlite(tmp_path)) | {"LEDGER_LOG_FORMAT": "json",
                                                    "LEDGER_LOG_LEVEL": "warning"}
    with serve(env, tmp_path) as url, httpx.Client(base_url=url, timeout=10.0) as http:
        assert http.post("/v1/deals", json=application(), headers=WRITER).status_code == 201
        assert http.get("/healthz").headers["x-request-id"]
    records = json_lines(tmp_path / "server.log")
    assert not [r for r in records if r.get("logger") == "exim_ledger.access"]


def sample(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"no {name}{labels} in\n{text}"
    return float(found.group(1))


def requests_by_process(directory: Path) -> dict[str, float]:
    """Each worker's own count of HTTP requests, read from its multiprocess file."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        counts[path.stem] = sum(v for key, v, *_ in values
                                if json.loads(key)[1] == "ledger_http_requests_total")
    return counts


def test_metrics_are_summed_across_two_workers(tmp_path: Path):
    directory = tmp_path / "metrics"
    env = ledger_env(migrated_sqlite(tmp_path)) | {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with serve(env, tmp_path, "--workers", "2") as url:
        def post(_: int) -> int:  # a connection each, several at once
            r = httpx.post(f"{url}/v1/deals", json=application(), headers=WRITER, timeout=30)
            return r.status_code

        posts = 0
        with ThreadPoolExecutor(8) as pool:
            # the kernel hands connections to whichever worker accepts first: post in
            # rounds until both have served some (bounded), so that a sum is needed
            for _ in range(40):
                assert list(pool.map(post, range(8))) == [201] * 8
                posts += 8
                if sum(n > 0 for n in requests_by_process(directory).values()) == 2:
                    break
        served = [n for n in requests_by_process(directory).values() if n > 0]
        assert len(served) == 2, f"one worker served all {posts} requests"
        for _ in range(8):
            text = httpx.get(f"{url}/metrics", timeout=10).text
            assert sample(text, "ledger_events_appended_total") == posts
            assert sample(text, "ledger_http_requests_total",
                          '{method="POST",route="/v1/deals",status="201"}') == posts
            assert sample(text, "ledger_write_phase_seconds_count", '{phase="record"}') == posts
            for name in NAMES:
                assert sample(text, "ledger_projection_lag_events",
                              f'{{projection="{name}"}}') >= 0
            assert 'pid="' not in text, "per-process samples leaked into the sum"


def test_the_metrics_directory_is_emptied_at_start(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert prepare_metrics_dir(workers=2) is None  # the operator's directory stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_several_workers_get_a_metrics_directory_of_their_own(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # recorded: undone after the test
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert prepare_metrics_dir(workers=1) is None
    created = prepare_metrics_dir(workers=2)
    assert created is not None and created.is_dir()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(created)
    created.rmdir()
