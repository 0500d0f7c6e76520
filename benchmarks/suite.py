"""The whole benchmark matrix in one run (``make bench``), then its report (``report.py``).

Each section is one of the runners beside this file, started as a child process with its own
time limit; a section that fails or is missing is recorded as such and the others still run.
Before each section the machine's load average is recorded: the machine may be shared, and
the figures to compare are the ratios between clients measured in the same section.

    python benchmarks/suite.py [--quick] [--out benchmarks/results] [--readme README.md]

``--quick`` runs every section with small counts (a check that the suite works, not figures
to publish) and writes to ``build/bench-quick`` unless ``--out`` says otherwise. The full run
writes ``benchmarks/results/`` and, with ``--readme``, the table and chart between the
``<!-- bench:begin -->`` and ``<!-- bench:end -->`` markers of that file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    script: str  # beside this file; a section whose script is absent is skipped
    full: tuple[str, ...]
    quick: tuple[str, ...]
    output: str  # the file the section leaves in --out (Markdown or JSON)
    capture: bool = False  # the runner prints its table: keep stdout as the output
    timeout: float = 1800.0


SECTIONS: Final = (
    Section(
        "http1",
        "HTTP/1.1, plain",
        "run.py",
        ("--n", "20000"),
        ("--n", "1000", "--warmup", "100"),
        "http1.json",
    ),
    Section(
        "http1-tls",
        "HTTP/1.1 over TLS",
        "run.py",
        ("--tls", "--n", "10000"),
        ("--tls", "--n", "500", "--warmup", "100"),
        "http1-tls.json",
    ),
    Section(
        "h2",
        "HTTP/2 over TLS, and the 64 MiB download",
        "run_h2.py",
        ("--n", "20000", "--rounds", "7"),
        ("--n", "1000", "--warmup", "100", "--rounds", "2"),
        "h2.json",
    ),
    Section(
        "codegen",
        "Code generator budgets",
        "codegen.py",
        (),
        (),
        "codegen.txt",
        capture=True,
    ),
    Section(
        "websocket",
        "WebSocket echo",
        "websocket.py",
        ("--n", "5000", "--m", "40"),
        ("--n", "300", "--m", "4"),
        "websocket.md",
    ),
    Section(
        "cache",
        "HTTP cache",
        "http_cache.py",
        ("--hits", "3000", "--revalidations", "1000"),
        ("--hits", "300", "--revalidations", "100"),
        "cache.md",
        capture=True,
    ),
    Section(
        "storage",
        "Storage backends (S3)",
        "storage.py",
        ("--size-mib", "256", "--moto-size-mib", "64", "--repeat", "2"),
        ("--size-mib", "16", "--moto-size-mib", "8", "--repeat", "1"),
        "storage.md",
    ),
)


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _arguments(section: Section, out: Path, quick: bool) -> list[str]:
    arguments = list(section.quick if quick else section.full)
    target = out / section.output
    if section.name.startswith(("http1", "h2")):
        arguments += ["--json", str(target), "--output", str(target.with_suffix(".md"))]
    elif section.name == "websocket":
        arguments += ["--output", str(target)]
    elif section.name == "storage":
        arguments += ["--out", str(target)]
    return arguments


def run_section(section: Section, out: Path, quick: bool) -> dict[str, object]:
    script = HERE / section.script
    record: dict[str, object] = {
        "name": section.name,
        "title": section.title,
        "output": section.output,
        "load_before": list(os.getloadavg()),
    }
    if not script.exists():
        record["status"] = f"not run: benchmarks/{section.script} does not exist yet"
        return record
    # The generator's runner imports the project as a package (python -m benchmarks.codegen).
    if section.name == "codegen":
        command = [sys.executable, "-m", "benchmarks.codegen"]
    else:
        command = [sys.executable, str(script)]
    command += _arguments(section, out, quick)
    print(f"== {section.title}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=section.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        record["status"] = f"timed out after {section.timeout:.0f} s"
        return record
    record["seconds"] = round(time.monotonic() - started, 1)
    record["load_after"] = list(os.getloadavg())
    print(done.stdout[-3000:], flush=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        record["status"] = f"failed (exit {done.returncode}): {tail[:300]}"
        return record
    if section.capture:
        (out / section.output).write_text(done.stdout)
    record["status"] = "ok"
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument("--only", help="comma-separated section names")
    parser.add_argument("--readme", type=Path, help="update this file's bench markers")
    args = parser.parse_args(argv)
    out: Path = args.out or (ROOT / "build" / "bench-quick" if args.quick else HERE / "results")
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only.split(",")) if args.only else None
    run: dict[str, object] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "quick": args.quick,
        "machine": machine(),
        "load_start": list(os.getloadavg()),
        "sections": [],
    }
    run["sections"] = [
        run_section(section, out, args.quick)
        for section in SECTIONS
        if wanted is None or section.name in wanted
    ]
    run["load_end"] = list(os.getloadavg())
    (out / "run.json").write_text(json.dumps(run, indent=1) + "\n")

    from benchmarks import report

    report.write(out, readme=args.readme)
    print(f"report: {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
