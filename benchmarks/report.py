"""The report of one ``make bench`` run: Markdown, PNG charts, and the README's block.

Reads what ``suite.py`` left in the results folder (``run.json`` and each section's JSON or
Markdown) and writes, in the same folder:

- ``README.md``: date, commit, machine (CPU model, cores) and load averages, the targets of
  issue 15 as ratios with their status, one table per section, the other sections' reports;
- ``cpu.png``: CPU microseconds per request of every client in every scenario;
- ``targets.png``: each target's measured ratio against its limit.

With ``readme``, the text between ``<!-- bench:begin -->`` and ``<!-- bench:end -->`` in that
file is replaced by a summary of the run (its table and chart). Every figure is a ratio between
clients measured in the same run: absolute times move with the machine's load.

    python benchmarks/report.py [benchmarks/results] [--readme README.md]
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
BEGIN: Final = "<!-- bench:begin -->"
END: Final = "<!-- bench:end -->"
SCENARIO_NAMES: Final = {
    "sync": "sync",
    "asyncio": "asyncio, 100 in flight",
    "trio": "trio, 100 in flight",
}


@dataclass(frozen=True)
class Target:
    """One of issue 15's targets: ``measured`` = ours / reference; met when <= ``limit``
    (or >= ``limit`` when ``at_least``)."""

    name: str
    limit: float
    measured: float | None
    detail: str
    at_least: bool = False

    @property
    def status(self) -> str:
        if self.measured is None:
            return "not measured"
        met = self.measured >= self.limit if self.at_least else self.measured <= self.limit
        return "met" if met else "missed"

    def row(self) -> str:
        sign = ">=" if self.at_least else "<="
        value = "-" if self.measured is None else f"{self.measured:.2f}x"
        limit = f"{sign} {self.limit:g}x"
        return f"| {self.name} | {limit} | {value} | **{self.status}** | {self.detail} |"


# -- reading -----------------------------------------------------------------------------------


def _load(folder: Path, name: str) -> Any:
    path = folder / name
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _cpu(section: Any, scenario: str, client: str) -> float | None:
    if not section:
        return None
    for row in section.get("rows", []):
        if row["scenario"] == scenario and row["client"] == client and row["cpu_us"]:
            return float(row["cpu_us"])
    return None


def _rss(section: Any, scenario: str, client: str) -> float | None:
    if not section:
        return None
    for row in section.get("rows", []):
        if row["scenario"] == scenario and row["client"] == client and row.get("rss_mb"):
            return float(row["rss_mb"])
    return None


def _ratio(ours: float | None, reference: float | None) -> float | None:
    if ours is None or not reference:
        return None
    return ours / reference


def _flext_names(section: Any) -> tuple[str | None, str | None]:
    """(the row without the accelerator, the row with it) of a HTTP/1.1 section."""
    if not section:
        return None, None
    clients = {row["client"] for row in section.get("rows", [])}
    plain = "flext-h11" if "flext-h11" in clients else ("flext" if "flext" in clients else None)
    accelerated = "flext-httptools" if "flext-httptools" in clients else None
    if accelerated is None and {"flext", "flext-h11"} <= clients:
        accelerated = "flext"  # a run.py whose "flext" row is http1_parser="auto"
    return plain, accelerated


def _h2_cpu(h2: Any, mode: str, client: str) -> float | None:
    if not h2:
        return None
    for row in h2.get("load", []):
        if row["mode"] == mode and row["client"] == client and "cpu_us" in row:
            return float(row["cpu_us"])
    return None


def targets(http1: Any, h2: Any) -> list[Target]:
    """Issue 15's targets, measured in this run (plain HTTP/1.1 unless said otherwise)."""
    plain, accelerated = _flext_names(http1)
    absent = "no httptools path in this checkout (http1_parser= absent or httptools missing)"
    found: list[Target] = []

    def cpu(scenario: str, client: str | None) -> float | None:
        return None if client is None else _cpu(http1, scenario, client)

    aiohttp = cpu("asyncio", "aiohttp")
    found.append(
        Target(
            "asyncio, 100 in flight, with httptools: CPU/request vs aiohttp",
            1.0,
            _ratio(cpu("asyncio", accelerated), aiohttp),
            "" if accelerated else absent,
        )
    )
    found.append(
        Target(
            "asyncio, 100 in flight, h11: CPU/request vs the bare h11 loop",
            1.2,
            _ratio(cpu("asyncio", plain), cpu("sync", "h11")),
            "the h11 loop is the sync floor row",
        )
    )
    urllib3 = cpu("sync", "urllib3")
    found.append(
        Target(
            "sync, with httptools: CPU/request vs urllib3",
            0.5,
            _ratio(cpu("sync", accelerated), urllib3),
            "" if accelerated else absent,
        )
    )
    found.append(
        Target("sync, h11: CPU/request vs urllib3", 0.6, _ratio(cpu("sync", plain), urllib3), "")
    )
    found.append(
        Target(
            "trio vs asyncio (flext-api, 100 in flight)",
            1.1,
            _ratio(cpu("trio", plain), cpu("asyncio", plain)),
            "",
        )
    )
    peers = [
        value
        for value in (_h2_cpu(h2, "asyncio", "httpx"), _h2_cpu(h2, "asyncio", "niquests"))
        if value
    ]
    found.append(
        Target(
            "HTTP/2, asyncio, 100 streams: CPU/request vs the best peer",
            0.3,
            _ratio(_h2_cpu(h2, "asyncio", "flext"), min(peers) if peers else None),
            "peers: httpx, niquests",
        )
    )
    found.append(
        Target(
            "peak RSS, asyncio, 100 in flight, vs aiohttp",
            1.0,
            _ratio(_rss(http1, "asyncio", plain or "flext"), _rss(http1, "asyncio", "aiohttp")),
            "whole client process",
        )
    )
    download = (h2 or {}).get("download") or {}
    detail = ""
    if "ratio" in download:
        detail = (
            f"median of {download['rounds']} alternated pairs, range "
            f"{download['ratio_min']:.2f}-{download['ratio_max']:.2f}x; by CPU per byte "
            f"{download['cpu_ratio']:.2f}x"
        )
    found.append(
        Target(
            "64 MiB download: HTTP/2 throughput vs HTTP/1.1",
            0.9,
            download.get("ratio"),
            detail,
            at_least=True,
        )
    )
    return found


# -- tables ------------------------------------------------------------------------------------


def http1_table(section: Any) -> list[str]:
    if not section:
        return ["(not run)"]
    lines = [
        "| scenario | client | CPU us/req | vs flext-api | req/s | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    base: dict[str, float] = {}
    for row in section["rows"]:
        if row["client"].startswith("flext") and row["cpu_us"]:
            base.setdefault(row["scenario"], row["cpu_us"])
    for row in section["rows"]:
        label = row["label"] + (f" {row['version']}" if row["version"] not in ("-", "") else "")
        scenario = SCENARIO_NAMES.get(row["scenario"], row["scenario"])
        if not row["cpu_us"]:
            lines.append(f"| {scenario} | {label} | - | - | - | {row['error']} |")
            continue
        reference = base.get(row["scenario"])
        ratio = f"{row['cpu_us'] / reference:.2f}x" if reference else "-"
        lines.append(
            f"| {scenario} | {label} | {row['cpu_us']:,.0f} | {ratio} | {row['rps']:,.0f} | "
            f"{row['rss_mb'] or 0:,.0f} |"
        )
    return lines


def h2_table(section: Any) -> list[str]:
    if not section:
        return ["(not run)"]
    lines = [
        "| mode | client | CPU us/req | vs flext-api | req/s | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    base = {row["mode"]: row.get("cpu_us") for row in section["load"] if row["client"] == "flext"}
    for row in section["load"]:
        name = f"{row['client']} {row['version']}"
        if "error" in row:
            lines.append(f"| {row['mode']} | {name} | - | - | - | {row['error'][:120]} |")
            continue
        reference = base.get(row["mode"])
        ratio = f"{row['cpu_us'] / reference:.2f}x" if reference else "-"
        note = f"{row['connections']} connection(s)" if "connections" in row else ""
        lines.append(
            f"| {row['mode']} | {name} | {row['cpu_us']:,.0f} | {ratio} | {row['rps']:,.0f} | "
            f"{note} |"
        )
    download = section.get("download") or {}
    if "ratio" in download:
        lines += [
            "",
            f"64 MiB download (flext-api sync, streamed, nginx `http2_chunk_size` 8k, "
            f"{download['rounds']} alternated runs per protocol):",
            "",
            "| protocol | MB/s (median) | CPU ms per MiB |",
            "|---|---:|---:|",
        ]
        for protocol in ("h2", "http/1.1"):
            figures = download[protocol]
            lines.append(
                f"| {protocol} | {figures['mb_s']:,.0f} | {figures['cpu_ms_per_mib']:.2f} |"
            )
    elif "error" in download:
        lines.append(f"\n64 MiB download: {download['error']}")
    return lines


# -- charts ------------------------------------------------------------------------------------


def _bars(http1: Any, tls: Any, h2: Any) -> dict[str, dict[str, float]]:
    """scenario label -> client -> CPU us/request."""
    groups: dict[str, dict[str, float]] = {}
    for title, section in (("HTTP/1.1", http1), ("TLS", tls)):
        for row in (section or {}).get("rows", []):
            if row["cpu_us"] and row["client"] not in ("socket",):
                label = f"{title} {row['scenario']}"
                groups.setdefault(label, {})[row["label"]] = row["cpu_us"]
    for row in (h2 or {}).get("load", []):
        if "cpu_us" in row:
            label = f"HTTP/2 {row['mode']}"
            name = "flext-api" if row["client"] == "flext" else row["client"]
            groups.setdefault(label, {})[name] = row["cpu_us"]
    return groups


def charts(folder: Path, http1: Any, tls: Any, h2: Any, found: list[Target]) -> list[str]:
    """Write the PNG charts; their file names (none when matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    groups = _bars(http1, tls, h2)
    if groups:
        clients = sorted({client for values in groups.values() for client in values})
        figure, axis = plt.subplots(figsize=(11, 0.55 * len(groups) * max(2, len(clients) / 2)))
        height = 0.8 / len(clients)
        labels = list(groups)
        for index, client in enumerate(clients):
            positions = [row + index * height for row in range(len(labels))]
            values = [groups[label].get(client, 0.0) for label in labels]
            axis.barh(positions, values, height=height, label=client)
        axis.set_yticks([row + 0.4 - height / 2 for row in range(len(labels))], labels)
        axis.invert_yaxis()
        axis.set_xscale("log")
        axis.set_xlabel("client CPU microseconds per request (log scale; lower is better)")
        axis.legend(fontsize="small", loc="lower right")
        axis.set_title("CPU per request, one run, every client against the same nginx")
        figure.tight_layout()
        figure.savefig(folder / "cpu.png", dpi=90)
        plt.close(figure)
        written.append("cpu.png")
    measured = [target for target in found if target.measured is not None]
    if measured:
        figure, axis = plt.subplots(figsize=(11, 0.5 * len(measured) + 1.2))
        names = [target.name for target in measured]
        values = [target.measured or 0.0 for target in measured]
        colours = ["tab:green" if target.status == "met" else "tab:red" for target in measured]
        axis.barh(names, values, color=colours)
        for row, target in enumerate(measured):
            axis.plot([target.limit, target.limit], [row - 0.4, row + 0.4], color="black")
        axis.invert_yaxis()
        axis.set_xlabel("measured ratio (bar) against its target (black line)")
        axis.set_title("Issue 15 targets: green met, red missed")
        figure.tight_layout()
        figure.savefig(folder / "targets.png", dpi=90)
        plt.close(figure)
        written.append("targets.png")
    return written


# -- the report --------------------------------------------------------------------------------


def _loads(values: list[float] | None) -> str:
    return "-" if not values else " / ".join(f"{value:.2f}" for value in values)


def header(run: dict[str, Any]) -> list[str]:
    machine = run["machine"]
    lines = [
        f"- date: {run['date']}; commit {run['commit']}"
        + ("; **quick run** (small counts: not figures to publish)" if run.get("quick") else ""),
        f"- machine: {machine['cpu_model']}, {machine['cores']} cores "
        f"({machine['usable_cores']} usable); Python {machine['python']}; "
        f"{machine['platform']}",
        f"- load average (1/5/15 min) at start: {_loads(run.get('load_start'))}; at end: "
        f"{_loads(run.get('load_end'))}",
    ]
    lines.extend(
        f"  - {section['title']}: {section['status']}"
        + (f", {section['seconds']} s" if "seconds" in section else "")
        + f", load before {_loads(section.get('load_before'))}"
        for section in run["sections"]
    )
    return lines


def write(folder: Path, readme: Path | None = None) -> str:
    run = _load(folder, "run.json")
    if run is None:
        raise SystemExit(f"{folder}/run.json is missing: run benchmarks/suite.py first")
    http1 = _load(folder, "http1.json")
    tls = _load(folder, "http1-tls.json")
    h2 = _load(folder, "h2.json")
    found = targets(http1, h2)
    images = charts(folder, http1, tls, h2, found)
    target_lines = [
        "| target (issue 15) | limit | measured | status | note |",
        "|---|---:|---:|---|---|",
        *(target.row() for target in found),
    ]
    parsers = (http1 or {}).get("parsers") or []
    parser_note = (
        f"flext-api rows per HTTP/1.1 parser: {', '.join(parsers)}"
        if parsers
        else "one flext-api row (h11: this checkout has no `http1_parser=` choice)"
    )
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`benchmarks/suite.py`, then `benchmarks/report.py`). The "
        "figures to compare are the ratios: every client of a section ran in the same run, "
        "against the same origin, each in a fresh process pinned to its own core.",
        "",
        *header(run),
        "",
        "## Targets",
        "",
        *target_lines,
        "",
    ]
    if "targets.png" in images:
        lines += ["![targets](targets.png)", ""]
    lines += ["## HTTP/1.1 (plain)", "", parser_note, "", *http1_table(http1), ""]
    lines += ["## HTTP/1.1 over TLS", "", *http1_table(tls), ""]
    lines += ["## HTTP/2 over TLS", "", *h2_table(h2), ""]
    if "cpu.png" in images:
        lines += ["![CPU per request](cpu.png)", ""]
    for section in run["sections"]:
        if section["name"] in ("http1", "http1-tls", "h2"):
            continue
        lines += [f"## {section['title']}", ""]
        path = folder / section["output"]
        if section["status"] == "ok" and path.exists():
            text = path.read_text().strip()
            lines += (["```text", text, "```"] if path.suffix == ".txt" else [text]) + [""]
        else:
            lines += [f"{section['status']}", ""]
    text = "\n".join(lines).rstrip() + "\n"
    (folder / "README.md").write_text(text)
    if readme is not None:
        update_readme(readme, folder, run, target_lines, http1, images)
    return text


def update_readme(  # noqa: PLR0917 - the parts of one report
    readme: Path,
    folder: Path,
    run: dict[str, Any],
    target_lines: list[str],
    http1: Any,
    images: list[str],
) -> None:
    """Replace the block between the markers with this run's summary."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} block")
    relative = Path(os.path.relpath(folder, readme.parent)).as_posix()
    block = [
        BEGIN,
        "<!-- written by benchmarks/report.py from one `make bench` run: do not edit -->",
        "",
        *header(run),
        "",
        *target_lines,
        "",
        "CPU microseconds per request, HTTP/1.1 against nginx on 127.0.0.1:",
        "",
        *http1_table(http1),
        "",
    ]
    if "cpu.png" in images:
        block += [f"![CPU per request]({relative}/cpu.png)", ""]
    block += [
        f"Every section, HTTP/2 and TLS included: [{relative}/README.md]({relative}/README.md).",
        END,
    ]
    before, _, rest = text.partition(BEGIN)
    _, _, after = rest.partition(END)
    readme.write_text(before + "\n".join(block) + after)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", default=HERE / "results")
    parser.add_argument("--readme", type=Path)
    args = parser.parse_args(argv)
    write(args.folder, readme=args.readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
