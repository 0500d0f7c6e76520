"""Generator budgets (CODEGEN.md G23): generation time and peak memory for large specs, and the
import time of the generated discord package.

Run: ``.venv/bin/python -m benchmarks.codegen`` (needs ../shared/corpus/openapi). Prints a table;
asserts nothing (tests never assert timings).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from codegen.openapi.generate import generate

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "openapi"
SPECS = ("discord_api.json", "lob_api.yml", "xero_accounting.yaml")


def main() -> int:
    if not CORPUS.is_dir():
        print(f"corpus folder {CORPUS} is absent: nothing to measure")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        print(f"{'spec':28} {'size KB':>8} {'gen s':>7} {'peak MB (tracemalloc)':>22}")
        for name in SPECS:
            spec = CORPUS / name
            tracemalloc.start()
            started = time.perf_counter()
            generate(spec, out / name.split(".")[0], "bench_" + name.split("_")[0])
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            size = spec.stat().st_size / 1e3
            print(f"{name:28} {size:8.0f} {elapsed:7.2f} {peak:22.1f}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        print(f"process peak RSS: {rss:.0f} MB")
        root = out / "discord_api"
        for label, code in (
            ("import bench_discord", "import bench_discord"),
            ("import bench_discord.models", "import bench_discord.models"),
        ):
            best = min(_import_us(root, code) for _ in range(5))
            print(f"{label}: {best / 1e3:.1f} ms (cumulative, best of 5, -X importtime)")
    return 0


def _import_us(root: Path, code: str) -> int:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    last = done.stderr.strip().splitlines()[-1]
    return int(last.split("|")[1])


if __name__ == "__main__":
    sys.exit(main())
