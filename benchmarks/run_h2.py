"""HTTP/2 client cost: 100 requests in flight on one TLS connection, flext-api and its peers.

nginx (HTTP/2 over TLS, ALPN; pinned to CPU 1) is the origin. For each client and mode a fresh
Python process pinned to CPU 0 warms up, then sends ``--n`` GETs with 100 in flight (100 tasks,
or 100 threads for the sync clients) and reports requests per second (wall clock) and CPU
microseconds per request (``time.process_time``, every thread of the process). Every response
is checked (status 200, HTTP/2, the exact 13-byte body); flext-api's runs also check that one
connection carried them all.

Then a 64 MiB download of a static file, streamed, over HTTP/2 and over HTTP/1.1 (same nginx,
same TLS), by the flext-api sync client, the two alternated ``--rounds`` times: the target is
HTTP/2 at least 0.9x HTTP/1.1's throughput (docs/performance.md).

    python benchmarks/run_h2.py [--n 20000] [--clients flext,httpx,niquests]
                                [--modes asyncio,trio,sync] [--rounds 5] [--json FILE]

Needs nginx (apt-get install -y nginx) and trustme; the table goes to stdout and to
benchmarks/results-h2.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

BODY: Final = b"hello, world\n"
CONCURRENCY: Final = 100
WARMUP: Final = 500
BIG: Final = 64 * 1024 * 1024
CHUNK: Final = os.environ.get("H2_CHUNK", "8k")
HERE: Final = Path(__file__).resolve().parent
RESULT_PREFIX: Final = "RESULT "
CLIENTS: Final = ("flext", "httpx", "niquests")
MODES: Final = ("asyncio", "trio", "sync")
# niquests has no trio support.
SUPPORTED: Final = {
    "flext": MODES,
    "httpx": MODES,
    "niquests": ("asyncio", "sync"),
}
DISTRIBUTIONS: Final = {"flext": "flext-api", "httpx": "httpx", "niquests": "niquests"}


# --- children: one client, one mode, one process -----------------------------------------------


def _check(status: int, version: str, body: bytes) -> None:
    if status != 200 or body != BODY or version.upper().replace("HTTP/2.0", "HTTP/2") != "HTTP/2":
        raise RuntimeError(f"bad response: {status} {version} {body[:40]!r}")


Fetch = Callable[[], Awaitable[None]]


def _async_client(name: str, ca: str) -> tuple[Any, Callable[[str], Awaitable[None]]]:
    if name == "flext":
        from flext_api import AsyncFlextApiClient

        client: Any = AsyncFlextApiClient(verify=ca, http2=True)

        async def fetch(url: str) -> None:
            response = (await client.get(url)).unwrap()
            _check(response.status_code, response.http_version, response.content)

        return client, fetch
    if name == "httpx":
        import httpx

        client = httpx.AsyncClient(verify=ca, http2=True, limits=httpx.Limits(max_connections=1))

        async def fetch_httpx(url: str) -> None:
            response = await client.get(url)
            _check(response.status_code, response.http_version, response.content)

        return client, fetch_httpx
    import niquests

    client = niquests.AsyncSession(pool_maxsize=1, disable_http3=True)

    async def fetch_niquests(url: str) -> None:
        response = await client.get(url, verify=ca)
        _check(response.status_code, f"HTTP/{response.raw.version / 10:g}", response.content)

    return client, fetch_niquests


async def _close(client: Any) -> None:
    close = getattr(client, "aclose", None) or client.close
    result = close()
    if hasattr(result, "__await__"):
        await result


def _drive_async(  # noqa: PLR0917 - a child's whole job in one call
    name: str, url: str, ca: str, n: int, warmup: int, library: str
) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        client, fetch = _async_client(name, ca)
        if library == "trio":
            import trio

            async def run(count: int) -> None:
                async def worker(share: int) -> None:
                    for _ in range(share):
                        await fetch(url)

                async with trio.open_nursery() as nursery:
                    for share in _split(count):
                        nursery.start_soon(worker, share)
        else:

            async def run(count: int) -> None:
                async def worker(share: int) -> None:
                    for _ in range(share):
                        await fetch(url)

                await asyncio.gather(*(worker(share) for share in _split(count)))

        try:
            await run(warmup)
            result = _timed_async_prepare()
            await run(n)
            measured = _timed_finish(result, n)
            if name == "flext":
                measured["connections"] = client.pool_stats.connections
            return measured
        finally:
            await _close(client)

    if library == "trio":
        import trio

        return trio.run(main)
    return asyncio.run(main())


def _drive_sync(name: str, url: str, ca: str, n: int, warmup: int) -> dict[str, Any]:
    if name == "flext":
        from flext_api import FlextApiClient

        client: Any = FlextApiClient(verify=ca, http2=True)

        def fetch() -> None:
            response = client.get(url).unwrap()
            _check(response.status_code, response.http_version, response.content)

    elif name == "httpx":
        import httpx

        client = httpx.Client(verify=ca, http2=True, limits=httpx.Limits(max_connections=1))

        def fetch() -> None:
            response = client.get(url)
            _check(response.status_code, response.http_version, response.content)

    else:
        import niquests

        client = niquests.Session(pool_maxsize=1, disable_http3=True)

        def fetch() -> None:
            response = client.get(url, verify=ca)
            _check(response.status_code, f"HTTP/{response.raw.version / 10:g}", response.content)

    def run(count: int) -> None:
        errors: list[BaseException] = []

        def worker(share: int) -> None:
            try:
                for _ in range(share):
                    fetch()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=worker, args=(share,)) for share in _split(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    try:
        run(warmup)
        started = _timed_async_prepare()
        run(n)
        measured = _timed_finish(started, n)
        if name == "flext":
            measured["connections"] = client.pool_stats.connections
        return measured
    finally:
        client.close()


def _split(n: int) -> list[int]:
    base, extra = divmod(n, CONCURRENCY)
    return [
        base + (1 if index < extra else 0) for index in range(CONCURRENCY) if base or index < extra
    ]


def _timed_async_prepare() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _timed_finish(started: tuple[float, float], n: int) -> dict[str, Any]:
    wall = time.perf_counter() - started[0]
    cpu = time.process_time() - started[1]
    return {"rps": n / wall, "cpu_us": cpu / n * 1e6}


def _download_once(client: Any, url: str, expected: str) -> tuple[float, float]:
    """One streamed download: (MB/s wall clock, CPU seconds of the process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    size = 0
    with client.stream("GET", url) as result:
        response = result.unwrap()
        if response.http_version != expected:
            raise RuntimeError(f"{response.http_version}, expected {expected}")
        for chunk in response.iter_bytes():
            size += len(chunk)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    if size != BIG:
        raise RuntimeError(f"downloaded {size} bytes, expected {BIG}")
    return size / wall / 1e6, cpu


def _download(url: str, ca: str, rounds: int) -> dict[str, Any]:
    """HTTP/2 and HTTP/1.1 downloads alternated ``rounds`` times (after one warm-up each), so
    both see the same machine load; one connection per protocol, kept open."""
    from flext_api import FlextApiClient

    speeds: dict[str, list[float]] = {"h2": [], "http/1.1": []}
    cpus: dict[str, list[float]] = {"h2": [], "http/1.1": []}
    with FlextApiClient(verify=ca, http2=True) as h2, FlextApiClient(verify=ca) as h1:
        clients = {"h2": (h2, "HTTP/2"), "http/1.1": (h1, "HTTP/1.1")}
        for client, expected in clients.values():
            _download_once(client, url, expected)
        for _ in range(rounds):
            for protocol, (client, expected) in clients.items():
                speed, cpu = _download_once(client, url, expected)
                speeds[protocol].append(speed)
                cpus[protocol].append(cpu)
    return {"mb_s": speeds, "cpu_s": cpus}


def child_main(args: argparse.Namespace) -> int:
    kind, name, mode = args.child
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        if kind == "download":
            result = _download(args.url, args.ca, args.rounds)
        elif mode == "sync":
            result = _drive_sync(name, args.url, args.ca, args.n, args.warmup)
        else:
            result = _drive_async(name, args.url, args.ca, args.n, args.warmup, mode)
    except ImportError as error:
        result = {"error": f"not importable ({error})"}
    except Exception as error:
        result = {"error": f"failed: {type(error).__name__}: {error}"[:300]}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# --- the parent: certificates, nginx, children, table ------------------------------------------


NGINX_CONF: Final = """\
daemon off;
master_process off;
worker_processes 1;
{affinity}pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 128;
    http2_max_requests 1000000;
    http2_chunk_size {chunk};
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {root};
        location = /hello {{
            default_type text/plain;
            return 200 "hello, world\\n";
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError("nginx did not start within 5 s")


def start_nginx(directory: Path, cpu: int | None) -> tuple[str, str, subprocess.Popen[bytes]]:
    import trustme

    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/bin")
    if nginx is None:
        raise SystemExit("nginx is not installed: apt-get install -y nginx")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_pem = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    chain, key = directory / "chain.pem", directory / "key.pem"
    leaf.private_key_pem.write_to_path(str(key))
    with chain.open("wb") as out:
        for blob in leaf.cert_chain_pems:
            out.write(blob.bytes())
    root = directory / "root"
    root.mkdir()
    block = bytes(range(256)) * 4096
    with (root / "big.bin").open("wb") as out:
        for _ in range(BIG // len(block)):
            out.write(block)
    port = _free_port()
    affinity = f"worker_cpu_affinity {1 << cpu:b};\n" if cpu is not None else ""
    (directory / "nginx.conf").write_text(
        NGINX_CONF.format(
            dir=directory, port=port, cert=chain, key=key, root=root, affinity=affinity, chunk=CHUNK
        )
    )
    proc = subprocess.Popen(
        [nginx, "-p", f"{directory}/", "-c", str(directory / "nginx.conf"), "-e", "stderr"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if cpu is not None:
        os.sched_setaffinity(proc.pid, {cpu})
    _wait_listening(port, proc)
    return f"https://127.0.0.1:{port}", str(ca_pem), proc


def run_child(  # noqa: PLR0917 - mirrors the child's command line
    kind: str, name: str, mode: str, url: str, ca: str, args: argparse.Namespace, cpu: int | None
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        name,
        mode,
        "--url",
        url,
        "--ca",
        ca,
        "--n",
        str(args.n),
        "--warmup",
        str(args.warmup),
        "--rounds",
        str(args.rounds),
    ]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=args.timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    return {"error": f"no result (exit {done.returncode}): {done.stderr.strip()[-300:]}"}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def download_table(result: dict[str, Any], rounds: int) -> tuple[list[str], dict[str, Any]]:
    """The download rows (median and range of the alternated runs) and their summary."""
    title = f"64 MiB download, flext-api sync, streamed; {rounds} alternated runs per protocol"
    if "error" in result:
        return [f"{title}: {result['error']}"], {"error": result["error"]}
    speeds, cpus = result["mb_s"], result["cpu_s"]
    lines = [
        f"{title}",
        "",
        "| protocol | MB/s median | MB/s min-max | CPU ms per MiB (median) |",
        "|---|---:|---:|---:|",
    ]
    summary: dict[str, Any] = {"rounds": rounds}
    for protocol in ("h2", "http/1.1"):
        median = _median(speeds[protocol])
        cpu_per_mib = _median(cpus[protocol]) * 1000 / (BIG / 2**20)
        summary[protocol] = {"mb_s": median, "cpu_ms_per_mib": cpu_per_mib}
        lines.append(
            f"| {protocol} | {median:,.0f} | {min(speeds[protocol]):,.0f}-"
            f"{max(speeds[protocol]):,.0f} | {cpu_per_mib:.2f} |"
        )
    # Per round: the two downloads ran back to back, under the same load.
    per_round = [h2 / h1 for h2, h1 in zip(speeds["h2"], speeds["http/1.1"], strict=True)]
    ratio = _median(per_round)
    cpu_ratio = summary["http/1.1"]["cpu_ms_per_mib"] / summary["h2"]["cpu_ms_per_mib"]
    summary.update(ratio=ratio, ratio_min=min(per_round), ratio_max=max(per_round))
    summary["cpu_ratio"] = cpu_ratio
    lines += [
        "",
        f"h2 / HTTP/1.1 throughput: **{ratio:.2f}x** (median of {rounds} alternated pairs; "
        f"{min(per_round):.2f}x-{max(per_round):.2f}x); by CPU per byte: {cpu_ratio:.2f}x "
        "(target: at least 0.9x)",
    ]
    return lines, summary


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(DISTRIBUTIONS[name])
    except importlib.metadata.PackageNotFoundError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--rounds", type=int, default=5, help="alternated downloads per protocol")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--output", type=Path, default=HERE / "results-h2.md")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)
    cpus = sorted(os.sched_getaffinity(0))
    client_cpu, origin_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    directory = Path(tempfile.mkdtemp(prefix="flext-bench-h2-"))
    lines: list[str] = []
    collected: dict[str, Any] = {"load": [], "download": None, "n": args.n}
    try:
        base, ca, proc = start_nginx(directory, origin_cpu)
        try:
            lines.append(
                f"HTTP/2 over TLS, {CONCURRENCY} in flight, {args.n} GETs per client; nginx "
                f"origin; Python {platform.python_version()}; client CPU {client_cpu}, origin "
                f"CPU {origin_cpu}"
            )
            lines.append("")
            lines.append("| mode | client | version | req/s | CPU us/req | note |")
            lines.append("|---|---|---|---:|---:|---|")
            for mode in args.modes.split(","):
                for name in args.clients.split(","):
                    if mode not in SUPPORTED[name]:
                        continue
                    result = run_child("load", name, mode, base + "/hello", ca, args, client_cpu)
                    if "error" in result:
                        row = f"| {mode} | {name} | {_version(name)} | - | - | {result['error']} |"
                    else:
                        note = (
                            f"{result['connections']} connection(s)"
                            if "connections" in result
                            else ""
                        )
                        row = (
                            f"| {mode} | {name} | {_version(name)} | {result['rps']:,.0f} | "
                            f"{result['cpu_us']:,.0f} | {note} |"
                        )
                    print(row, flush=True)
                    lines.append(row)
                    collected["load"].append(
                        {"mode": mode, "client": name, "version": _version(name), **result}
                    )
            if not args.no_download:
                result = run_child(
                    "download", "flext", "both", base + "/big.bin", ca, args, client_cpu
                )
                download_lines, summary = download_table(result, args.rounds)
                for line in download_lines:
                    print(line, flush=True)
                lines += ["", *download_lines]
                collected["download"] = summary
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    args.output.write_text("\n".join(lines) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps(collected, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
