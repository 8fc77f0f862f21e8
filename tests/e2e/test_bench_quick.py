"""``exim-ledger bench --quick``: the CI run of the benchmark, against the ratios the
repository records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("exim-ledger")
SCENARIOS = {"ingest_sqlite", "batches_sqlite", "rebuild_sqlite", "rss_sqlite"}

pytestmark = pytest.mark.bench


def test_quick_bench_runs_every_scenario_within_the_recorded_ratios(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    done = subprocess.run(
        [str(CLI), "bench", "--quick", "--out", str(out),
         "--baseline", str(ROOT / "bench" / "baseline.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert results["mode"] == "quick"
    assert set(results["scenarios"]) == SCENARIOS
    for name in ("ingest_sqlite", "batches_sqlite", "rebuild_sqlite"):
        r = results["scenarios"][name]
        assert r["per_s"] > 0 and r["baseline"]["per_s"] > 0, r
        assert r["ratio"] == pytest.approx(r["per_s"] / r["baseline"]["per_s"], rel=0.01)
    ingest = results["scenarios"]["ingest_sqlite"]
    assert ingest["errors"] == 0 and ingest["baseline"]["errors"] == 0, ingest
    assert ingest["p50_ms"] <= ingest["p99_ms"] <= ingest["max_ms"]
    assert "| ingest_sqlite |" in out.with_suffix(".md").read_text()


def test_recorded_ratios_name_the_guarded_scenarios() -> None:
    recorded = json.loads((ROOT / "bench" / "baseline.json").read_text())["ratios"]
    assert {"ingest_sqlite", "rebuild_sqlite"} <= set(recorded)
    assert all(0 < ratio < 10 for ratio in recorded.values())
