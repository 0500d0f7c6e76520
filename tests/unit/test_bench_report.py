"""benchmarks/report.py on saved figures: the targets as ratios, the report, the README block.

No benchmark runs here and no time is asserted: the figures are made up, the logic is real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report


def _row(scenario: str, client: str, cpu: float | None, rss: float = 40.0) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "client": client,
        "label": client,
        "version": "1",
        "rps": 1000.0 if cpu else None,
        "cpu_us": cpu,
        "rss_mb": rss if cpu else None,
        "error": None if cpu else "failed: boom",
    }


def _save(folder: Path, parsers: bool) -> None:
    flext = ["flext-h11", "flext-httptools"] if parsers else ["flext"]
    rows = [
        _row("sync", flext[0], 120.0),
        _row("sync", "urllib3", 200.0),
        _row("sync", "h11", 100.0),
        _row("sync", "requests", None),
        _row("asyncio", flext[0], 130.0, rss=50.0),
        _row("asyncio", "aiohttp", 90.0, rss=40.0),
        _row("trio", flext[0], 140.0),
    ]
    if parsers:
        rows += [_row("sync", "flext-httptools", 90.0), _row("asyncio", "flext-httptools", 85.0)]
    http1 = {"protocol": "HTTP/1.1", "rows": rows, "parsers": ["h11", "httptools"][: len(flext)]}
    (folder / "http1.json").write_text(json.dumps(http1))
    h2 = {
        "load": [
            {"mode": "asyncio", "client": "flext", "version": "1", "cpu_us": 150.0, "rps": 1.0},
            {"mode": "asyncio", "client": "httpx", "version": "1", "cpu_us": 1000.0, "rps": 1.0},
            {"mode": "asyncio", "client": "niquests", "version": "1", "error": "not importable"},
        ],
        "download": {
            "rounds": 3,
            "h2": {"mb_s": 380.0, "cpu_ms_per_mib": 1.2},
            "http/1.1": {"mb_s": 400.0, "cpu_ms_per_mib": 1.1},
            "ratio": 0.95,
            "ratio_min": 0.9,
            "ratio_max": 1.0,
            "cpu_ratio": 0.92,
        },
    }
    (folder / "h2.json").write_text(json.dumps(h2))
    (folder / "cache.md").write_text("| scenario | x |\n|---|---|\n| hit | 1 |\n")
    run = {
        "date": "2026-12-05 05:00 UTC",
        "commit": "abc1234",
        "quick": False,
        "machine": {
            "cpu_model": "Test CPU",
            "cores": 2,
            "usable_cores": 2,
            "python": "3.11",
            "platform": "Linux",
        },
        "load_start": [1.0, 2.0, 3.0],
        "load_end": [1.5, 2.0, 3.0],
        "sections": [
            {"name": "http1", "title": "HTTP/1.1", "status": "ok", "output": "http1.json"},
            {"name": "cache", "title": "HTTP cache", "status": "ok", "output": "cache.md"},
            {
                "name": "storage",
                "title": "Storage",
                "status": "not run: benchmarks/storage.py does not exist yet",
                "output": "storage.md",
            },
        ],
    }
    (folder / "run.json").write_text(json.dumps(run))


def _statuses(found: list[report.Target]) -> dict[str, str]:
    return {target.name: target.status for target in found}


def test_targets_are_ratios_in_one_run(tmp_path: Path) -> None:
    _save(tmp_path, parsers=True)
    found = report.targets(
        json.loads((tmp_path / "http1.json").read_text()),
        json.loads((tmp_path / "h2.json").read_text()),
    )
    by_name = {target.name: target for target in found}
    sync_plain = by_name["sync, h11: CPU/request vs urllib3"]
    assert sync_plain.measured == pytest.approx(0.6) and sync_plain.status == "met"
    accelerated = by_name["asyncio, 100 in flight, with httptools: CPU/request vs aiohttp"]
    assert accelerated.measured == pytest.approx(85 / 90) and accelerated.status == "met"
    assert by_name["peak RSS, asyncio, 100 in flight, vs aiohttp"].status == "missed"
    # The peer that failed to import is not the "best peer": httpx is.
    assert by_name[
        "HTTP/2, asyncio, 100 streams: CPU/request vs the best peer"
    ].measured == pytest.approx(0.15)
    download = by_name["64 MiB download: HTTP/2 throughput vs HTTP/1.1"]
    assert download.at_least and download.status == "met"


def test_without_a_parser_choice_the_accelerated_targets_are_not_measured(
    tmp_path: Path,
) -> None:
    _save(tmp_path, parsers=False)
    found = report.targets(json.loads((tmp_path / "http1.json").read_text()), None)
    statuses = _statuses(found)
    assert statuses["sync, with httptools: CPU/request vs urllib3"] == "not measured"
    assert statuses["sync, h11: CPU/request vs urllib3"] == "met"
    assert statuses["64 MiB download: HTTP/2 throughput vs HTTP/1.1"] == "not measured"


def test_the_report_and_the_readme_block(tmp_path: Path) -> None:
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    _save(results, parsers=True)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\nafter\n")
    text = report.write(results, readme=readme)
    assert "Test CPU, 2 cores" in text
    assert "load average (1/5/15 min) at start: 1.00 / 2.00 / 3.00" in text
    assert "| hit | 1 |" in text  # another section's Markdown, kept as it is
    assert "not run: benchmarks/storage.py does not exist yet" in text
    assert (results / "README.md").read_text() == text
    updated = readme.read_text()
    assert updated.startswith("intro\n<!-- bench:begin -->")
    assert updated.endswith("<!-- bench:end -->\nafter\n")
    assert "old table" not in updated
    assert "| sync | flext-httptools 1 | 90 |" in updated
    assert "[benchmarks/results/README.md](benchmarks/results/README.md)" in updated


def test_a_readme_without_markers_is_refused(tmp_path: Path) -> None:
    _save(tmp_path, parsers=False)
    readme = tmp_path / "OTHER.md"
    readme.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="bench:begin"):
        report.write(tmp_path, readme=readme)
