"""Generator budgets (CODEGEN.md G23): generation time and peak memory for large specs, the
import time of the generated discord package, and the per-call CPU overhead of a generated
client method over a raw ``FlextApiClient`` call (same server, a separate process).

Run: ``.venv/bin/python -m benchmarks.codegen`` (needs ../shared/corpus/openapi). Prints a table;
asserts nothing (tests never assert timings).
"""

from __future__ import annotations

import importlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import msgspec

from codegen.openapi.generate import generate
from flext_api import FlextApiClient

# Next to the repository (../shared), or the team's shared folder when run from a worktree.
CORPUS = next(
    (
        root / "shared" / "corpus" / "openapi"
        for root in (Path(__file__).resolve().parents[2], Path("/work"))
        if (root / "shared" / "corpus" / "openapi").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "corpus" / "openapi",
)
PETSTORE = Path(__file__).resolve().parents[1] / "tests" / "codegen" / "specs" / "petstore.yaml"
PET = b'{"id":1,"name":"rex","photoUrls":["a","b"],"status":"available"}'
CALLS = 3000


async def pet_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The server of the overhead run: one pet for any request (run by uvicorn in a child)."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": PET})


SPECS = ("discord_api.json", "lob_api.yml", "xero_accounting.yaml")


def main() -> int:
    if not CORPUS.is_dir():
        print(f"corpus folder {CORPUS} is absent: nothing to measure")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        print(f"{'spec':28} {'size KB':>8} {'gen s':>7} {'peak MB (tracemalloc)':>22}")
        discord: Any = None
        for name in SPECS:
            spec = CORPUS / name
            tracemalloc.start()
            started = time.perf_counter()
            result = generate(spec, out / name.split(".")[0], "bench_" + name.split("_")[0])
            if name.startswith("discord"):
                discord = result
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
            ("import bench_discord.client", "import bench_discord.client"),
        ):
            best = min(_import_us(root, code) for _ in range(5))
            print(f"{label}: {best / 1e3:.1f} ms (cumulative, best of 5, -X importtime)")
        call_overhead(out, discord)
    return 0


def call_overhead(out: Path, discord: Any) -> None:
    """CPU per call of ``get_pet_by_id`` on the generated sync client against a raw
    ``FlextApiClient.request`` (and the raw call plus decoding into the same model); and the
    first call of the discord client in a fresh process (import, construct, one call)."""
    generate(PETSTORE, out / "petstore", "bench_petstore")
    sys.path.insert(0, str(out / "petstore"))
    sdk = importlib.import_module("bench_petstore")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.codegen:pet_app", "--port", str(port),
         "--log-level", "warning", "--lifespan", "off"],
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_listening(port)
        with (
            FlextApiClient(base_url=base) as raw,
            sdk.PetstoreClient(base_url=base + "/api/v3", api_key="k") as api,
        ):
            key = {"api_key": "k"}
            runs = {
                "raw FlextApiClient.request": lambda: raw.request(
                    "GET", "/api/v3/pet/1", headers=key
                ),
                "raw request + msgspec decode": lambda: msgspec.json.decode(
                    raw.request("GET", "/api/v3/pet/1", headers=key).unwrap().content,
                    type=sdk.Pet,
                ),
                "generated get_pet_by_id": lambda: api.get_pet_by_id(pet_id=1).unwrap(),
            }
            if discord is not None:
                first_call(out / "discord_api", discord, base)
            best = dict.fromkeys(runs, float("inf"))
            for _ in range(5):  # interleaved, so a slower phase of the machine hits every variant
                for name, call in runs.items():
                    best[name] = min(best[name], _cpu_us(call))
    finally:
        server.terminate()
        server.wait(5)
    raw_us = best["raw FlextApiClient.request"]
    print(f"\nper call, client process CPU, best of 5 x {CALLS} sequential keep-alive GETs:")
    for name, us in best.items():
        print(f"  {name:30} {us:7.1f} us  ({(us / raw_us - 1) * 100:+5.1f}% vs raw)")


def first_call(root: Path, result: Any, base: str) -> None:
    """Wall time of ``import <pkg>.client`` + constructing the sync client + its first call of
    one operation without arguments, in a fresh process: the operation's group module is the
    only per-operation code compiled. Without bytecode (nothing cached) and with it (warm)."""
    plan = next(
        p
        for p in result.operations
        if not any(q.param.required for q in p.params) and (p.body is None or not p.body.required)
    )
    package = result.package_dir.name
    code = (
        "import time; t = time.perf_counter()\n"
        f"import {package}.client as c\n"
        f"api = c.{result.api_name}Client(base_url={base!r})\n"
        f"api.{plan.name}()\n"
        "print(int((time.perf_counter() - t) * 1e6))"
    )
    for label, cached in (("no bytecode", False), ("bytecode cached", True)):
        env = dict(os.environ)
        if cached:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            _run(root, code, env)
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            for folder in root.rglob("__pycache__"):
                shutil.rmtree(folder)
        best = min(int(_run(root, code, env)) for _ in range(5))
        print(
            f"first call (import {package}.client + construct + {plan.name}, {label}): "
            f"{best / 1e3:.1f} ms (best of 5, fresh processes)"
        )


def _run(root: Path, code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _cpu_us(call: Any) -> float:
    for _ in range(100):
        call()
    started = time.process_time()
    for _ in range(CALLS):
        call()
    return (time.process_time() - started) / CALLS * 1e6


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"benchmark server on port {port} did not start")


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
