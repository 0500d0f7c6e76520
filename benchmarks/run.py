"""Client-side cost of HTTP clients against a loopback origin: flext-api and its peers.

For each scenario and client this starts a fresh Python process pinned to CPU 0 (the origin is
pinned to CPU 1), warms the client up, then measures N requests: requests per second (wall
clock) and CPU microseconds per request of the client process (`time.process_time`, all of its
threads). Every response is checked (status 200 and the exact 13-byte body), so a client that
fails cannot look fast. A client whose library does not import is reported, not fatal.

    python benchmarks/run.py [--n 20000] [--only sync|asyncio|trio] [--clients flext,urllib3]

The origin is nginx when it is on PATH (a temporary prefix and config), else
benchmarks/origin.py. The table goes to stdout and to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import platform
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

BODY: Final = b"hello, world\n"
CONCURRENCY: Final = 100
WARMUP: Final = 500
HERE: Final = Path(__file__).resolve().parent
RESULT_PREFIX: Final = "RESULT "

SCENARIOS: Final[dict[str, tuple[str, ...]]] = {
    "sync": ("flext", "urllib3", "httpx", "requests", "h11", "socket"),
    "asyncio": ("flext", "httpx", "aiohttp"),
    "trio": ("flext", "httpx"),
}
# Clients that run only when named with --clients.
OPTIONAL: Final[dict[str, tuple[str, ...]]] = {"sync": ("niquests",), "asyncio": (), "trio": ()}
SCENARIO_TITLES: Final = {
    "sync": "sync, sequential keep-alive GET",
    "asyncio": f"async, {CONCURRENCY} in flight, asyncio",
    "trio": f"async, {CONCURRENCY} in flight, trio",
}
DISTRIBUTIONS: Final = {
    "flext": "flext-api",
    "urllib3": "urllib3",
    "httpx": "httpx",
    "requests": "requests",
    "h11": "h11",
    "aiohttp": "aiohttp",
    "niquests": "niquests",
    "socket": None,
}
LABELS: Final = {
    "h11": "h11 loop (floor)",
    "socket": "raw socket (floor)",
    "flext": "flext-api",
    "flext-h11": "flext-api [h11]",
    "flext-httptools": "flext-api [httptools]",
}
# Set in a child from --ca: the CA file of the TLS origin (None: plain HTTP).
CA: str | None = None


def http1_parsers() -> tuple[str, ...]:
    """The HTTP/1.1 parsers the client can be asked for (``http1_parser=``), in this checkout;
    empty when the keyword does not exist (one parser: h11)."""
    try:
        import flext_api
    except Exception:
        return ()
    client = getattr(flext_api, "FlextApiClient", None)
    if client is None or "http1_parser" not in inspect.signature(client).parameters:
        return ()
    parsers = ["h11"]
    if importlib.util.find_spec("httptools") is not None:
        parsers.append("httptools")
    return tuple(parsers)


def flext_clients() -> tuple[str, ...]:
    """One flext-api row per HTTP/1.1 parser when the client offers a choice, else one."""
    parsers = http1_parsers()
    return tuple(f"flext-{parser}" for parser in parsers) if parsers else ("flext",)


def _flext_options(client: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if client.startswith("flext-"):
        options["http1_parser"] = client.removeprefix("flext-")
    if CA is not None:
        options["verify"] = CA
    return options


class NotImportable(Exception):
    """The client's library is missing or broken: reported as a row, not a crash."""


def _import(name: str, *attributes: str) -> Any:
    """Import `name` and check it has `attributes` (a library under development may not yet)."""
    try:
        module = importlib.import_module(name)
    except Exception as error:  # any import-time failure, not only ImportError
        raise NotImportable(f"{name}: {type(error).__name__}: {error}") from error
    missing = [attribute for attribute in attributes if not hasattr(module, attribute)]
    if missing:
        raise NotImportable(f"{name} has no {', '.join(missing)}")
    return module


def _check(status: int, body: bytes) -> None:
    if status != 200 or body != BODY:
        raise AssertionError(f"bad response: status {status}, body {body[:60]!r}")


# --- sync clients: each yields a zero-argument function doing one checked GET ---------------

SyncHarness = Callable[[str], contextlib.AbstractContextManager[Callable[[], None]]]


def _sync_flext(name: str) -> SyncHarness:
    @contextlib.contextmanager
    def harness(url: str) -> Iterator[Callable[[], None]]:
        with sync_flext(url, name) as fetch:
            yield fetch

    return harness


@contextlib.contextmanager
def sync_flext(url: str, name: str = "flext") -> Iterator[Callable[[], None]]:
    flext_api = _import("flext_api", "FlextApiClient")
    with flext_api.FlextApiClient(base_url=url, **_flext_options(name)) as client:
        get = client.get

        def fetch() -> None:
            response = get("/").unwrap()
            _check(response.status_code, response.content)

        yield fetch


@contextlib.contextmanager
def sync_urllib3(url: str) -> Iterator[Callable[[], None]]:
    urllib3 = _import("urllib3")
    with urllib3.PoolManager(ca_certs=CA) as pool:
        target = url + "/"

        def fetch() -> None:
            response = pool.request("GET", target)
            _check(response.status, response.data)

        yield fetch


@contextlib.contextmanager
def sync_httpx(url: str) -> Iterator[Callable[[], None]]:
    httpx = _import("httpx")
    with httpx.Client(base_url=url, verify=CA or True) as client:

        def fetch() -> None:
            response = client.get("/")
            _check(response.status_code, response.content)

        yield fetch


def _requests_like(module: str) -> SyncHarness:
    @contextlib.contextmanager
    def harness(url: str) -> Iterator[Callable[[], None]]:
        library = _import(module)
        with library.Session() as session:
            # Per request: a session's verify loses to REQUESTS_CA_BUNDLE from the environment.
            options = {"verify": CA} if CA is not None else {}
            target = url + "/"

            def fetch() -> None:
                response = session.get(target, **options)
                _check(response.status_code, response.content)

            yield fetch

    return harness


def _connect(url: str) -> tuple[socket.socket, bytes]:
    tls = url.startswith("https://")
    host, _, port = url.removeprefix("https://").removeprefix("http://").partition(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        sock = ssl.create_default_context(cafile=CA).wrap_socket(sock, server_hostname=host)
    return sock, f"{host}:{port}".encode("ascii")


@contextlib.contextmanager
def sync_h11(url: str) -> Iterator[Callable[[], None]]:
    """The floor with a real parser: h11 over one socket, no URL, pool or header layers."""
    h11 = _import("h11")
    sock, authority = _connect(url)
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(method="GET", target="/", headers=[("Host", authority)])
    end = h11.EndOfMessage()
    need_data, data_event, response_event = h11.NEED_DATA, h11.Data, h11.Response

    def fetch() -> None:
        sock.sendall(conn.send(request) + conn.send(end))
        status, chunks = 0, []
        while True:
            event = conn.next_event()
            if event is need_data:
                conn.receive_data(sock.recv(65536))
            elif type(event) is response_event:
                status = event.status_code
            elif type(event) is data_event:
                chunks.append(event.data)
            elif type(event) is h11.EndOfMessage:
                break
            else:
                raise AssertionError(f"unexpected h11 event {event!r}")
        conn.start_next_cycle()
        _check(status, b"".join(chunks))

    try:
        yield fetch
    finally:
        sock.close()


@contextlib.contextmanager
def sync_socket(url: str) -> Iterator[Callable[[], None]]:
    """The floor without a parser: fixed request bytes, find Content-Length, read the body."""
    sock, authority = _connect(url)
    request = b"GET / HTTP/1.1\r\nHost: " + authority + b"\r\n\r\n"
    recv = sock.recv

    def fetch() -> None:
        sock.sendall(request)
        buffer = recv(65536)
        while b"\r\n\r\n" not in buffer:
            buffer += recv(65536)
        head, _, body = buffer.partition(b"\r\n\r\n")
        start = head.lower().index(b"content-length:") + 15
        length = int(head[start : head.index(b"\r\n", start)])
        while len(body) < length:
            body += recv(65536)
        _check(int(head[9:12]), body)

    try:
        yield fetch
    finally:
        sock.close()


SYNC_CLIENTS: Final[dict[str, SyncHarness]] = {
    "flext": _sync_flext("flext"),
    "flext-h11": _sync_flext("flext-h11"),
    "flext-httptools": _sync_flext("flext-httptools"),
    "urllib3": sync_urllib3,
    "httpx": sync_httpx,
    "requests": _requests_like("requests"),
    "niquests": _requests_like("niquests"),
    "h11": sync_h11,
    "socket": sync_socket,
}


# --- async clients: each yields a zero-argument coroutine function doing one checked GET ----

Fetch = Callable[[], Awaitable[None]]
AsyncHarness = Callable[[str], contextlib.AbstractAsyncContextManager[Fetch]]


def _async_flext(name: str) -> AsyncHarness:
    @contextlib.asynccontextmanager
    async def harness(url: str) -> AsyncIterator[Fetch]:
        async with async_flext(url, name) as fetch:
            yield fetch

    return harness


@contextlib.asynccontextmanager
async def async_flext(url: str, name: str = "flext") -> AsyncIterator[Fetch]:
    flext_api = _import("flext_api", "AsyncFlextApiClient", "Limits")
    limits = flext_api.Limits(max_connections=CONCURRENCY)
    options = _flext_options(name)
    async with flext_api.AsyncFlextApiClient(base_url=url, limits=limits, **options) as client:
        get = client.get

        async def fetch() -> None:
            response = (await get("/")).unwrap()
            _check(response.status_code, response.content)

        yield fetch


@contextlib.asynccontextmanager
async def async_httpx(url: str) -> AsyncIterator[Fetch]:
    httpx = _import("httpx")
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, verify=CA or True) as client:

        async def fetch() -> None:
            response = await client.get("/")
            _check(response.status_code, response.content)

        yield fetch


@contextlib.asynccontextmanager
async def async_aiohttp(url: str) -> AsyncIterator[Fetch]:
    aiohttp = _import("aiohttp")
    context = ssl.create_default_context(cafile=CA) if CA is not None else True
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session:
        target = url + "/"

        async def fetch() -> None:
            async with session.get(target) as response:
                _check(response.status, await response.read())

        yield fetch


_FLEXT_ASYNC: Final[dict[str, AsyncHarness]] = {
    name: _async_flext(name) for name in ("flext", "flext-h11", "flext-httptools")
}
ASYNC_CLIENTS: Final[dict[str, dict[str, AsyncHarness]]] = {
    "asyncio": {**_FLEXT_ASYNC, "httpx": async_httpx, "aiohttp": async_aiohttp},
    "trio": {**_FLEXT_ASYNC, "httpx": async_httpx},
}


# --- the child process: one client, one scenario, one measurement ---------------------------


@dataclass(frozen=True, slots=True)
class Measurement:
    requests_per_second: float
    cpu_us_per_request: float


def _split(n: int) -> list[int]:
    # The same split for every client: CONCURRENCY workers, each doing its share in sequence.
    share, extra = divmod(n, CONCURRENCY)
    return [share + (1 if index < extra else 0) for index in range(CONCURRENCY)]


def _measure(run: Callable[[int], None], n: int, warmup: int) -> Measurement:
    run(warmup)
    wall, cpu = time.perf_counter(), time.process_time()
    run(n)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    return Measurement(n / wall, cpu / n * 1e6)


def measure_sync(client: str, url: str, n: int, warmup: int) -> Measurement:
    with SYNC_CLIENTS[client](url) as fetch:

        def run(count: int) -> None:
            for _ in range(count):
                fetch()

        return _measure(run, n, warmup)


def measure_asyncio(client: str, url: str, n: int, warmup: int) -> Measurement:
    async def worker(fetch: Fetch, count: int) -> None:
        for _ in range(count):
            await fetch()

    async def drive(fetch: Fetch, count: int) -> None:
        await asyncio.gather(*(worker(fetch, share) for share in _split(count)))

    async def main() -> Measurement:
        async with ASYNC_CLIENTS["asyncio"][client](url) as fetch:
            await drive(fetch, warmup)
            wall, cpu = time.perf_counter(), time.process_time()
            await drive(fetch, n)
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
        return Measurement(n / wall, cpu / n * 1e6)

    return asyncio.run(main())


def measure_trio(client: str, url: str, n: int, warmup: int) -> Measurement:
    trio = _import("trio")

    async def worker(fetch: Fetch, count: int) -> None:
        for _ in range(count):
            await fetch()

    async def drive(fetch: Fetch, count: int) -> None:
        async with trio.open_nursery() as nursery:
            for share in _split(count):
                nursery.start_soon(worker, fetch, share)

    async def main() -> Measurement:
        async with ASYNC_CLIENTS["trio"][client](url) as fetch:
            await drive(fetch, warmup)
            wall, cpu = time.perf_counter(), time.process_time()
            await drive(fetch, n)
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
        return Measurement(n / wall, cpu / n * 1e6)

    result: Measurement = trio.run(main)
    return result


MEASURE: Final[dict[str, Callable[[str, str, int, int], Measurement]]] = {
    "sync": measure_sync,
    "asyncio": measure_asyncio,
    "trio": measure_trio,
}


def child_main(args: argparse.Namespace) -> int:
    global CA  # noqa: PLW0603 - one child process, one origin
    CA = args.ca
    scenario, client = args.child
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        measurement = MEASURE[scenario](client, args.url, args.n, args.warmup)
        result: dict[str, object] = {
            "rps": measurement.requests_per_second,
            "cpu_us": measurement.cpu_us_per_request,
            # Peak resident memory of the whole child (Linux: KiB), the client's run included.
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    except NotImportable as error:
        result = {"error": f"not importable ({error})"}
    except Exception as error:
        result = {"error": f"failed: {type(error).__name__}: {error}"[:300]}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# --- the parent: origin, children, table ----------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"origin exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"origin did not listen on 127.0.0.1:{port} within {timeout} s")


NGINX_CONF: Final = """\
daemon off;
worker_processes 1;
{affinity}pid nginx.pid;
error_log error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    server {{
        listen 127.0.0.1:{port}{ssl};
{certificates}        location / {{
            default_type text/plain;
            return 200 "hello, world\\n";
        }}
    }}
}}
"""


@dataclass
class Origin:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    prefix: Path | None = None
    ca: str | None = None  # TLS: the CA file that verifies the origin

    def stop(self) -> None:
        if self.proc.poll() is None:
            # nginx: graceful QUIT; origin.py exits on QUIT too.
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.prefix is not None:
            shutil.rmtree(self.prefix, ignore_errors=True)


def _certificates(prefix: Path) -> tuple[str, str]:
    """A trustme CA and a certificate for 127.0.0.1: (nginx directives, CA file)."""
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_pem, chain, key = prefix / "ca.pem", prefix / "chain.pem", prefix / "key.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    leaf.private_key_pem.write_to_path(str(key))
    with chain.open("wb") as out:
        for blob in leaf.cert_chain_pems:
            out.write(blob.bytes())
    directives = f"        ssl_certificate {chain};\n        ssl_certificate_key {key};\n"
    return directives, str(ca_pem)


def start_nginx(nginx: str, cpu: int | None, *, tls: bool = False) -> Origin:
    prefix = Path(tempfile.mkdtemp(prefix="flext-bench-nginx-"))
    (prefix / "tmp").mkdir()
    port = _free_port()
    # worker_cpu_affinity takes a bit mask, rightmost bit = CPU 0.
    affinity = f"worker_cpu_affinity {1 << cpu:b};\n" if cpu is not None else ""
    certificates, ca = _certificates(prefix) if tls else ("", None)
    (prefix / "nginx.conf").write_text(
        NGINX_CONF.format(
            port=port, affinity=affinity, ssl=" ssl" if tls else "", certificates=certificates
        )
    )
    proc = subprocess.Popen(
        [nginx, "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "error.log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scheme = "https" if tls else "http"
    origin = Origin("nginx", f"{scheme}://127.0.0.1:{port}", proc, prefix, ca)
    try:
        if cpu is not None:
            os.sched_setaffinity(proc.pid, {cpu})
        _wait_listening(port, proc)
    except BaseException:
        origin.stop()
        raise
    return origin


def start_python_origin(cpu: int | None) -> Origin:
    command = [sys.executable, str(HERE / "origin.py"), "--port", "0"]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE)
    origin = Origin("benchmarks/origin.py", "", proc)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"origin.py did not report its port: {line!r}")
        port = int(line.split()[1])
        origin.url = f"http://127.0.0.1:{port}"
        _wait_listening(port, proc)
    except BaseException:
        origin.stop()
        raise
    return origin


def start_origin(kind: str, cpu: int | None, *, tls: bool = False) -> Origin:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )
    if kind == "nginx" or (kind == "auto" and nginx) or tls:
        if not nginx:
            raise SystemExit("nginx is not installed (apt-get install -y nginx)")
        return start_nginx(nginx, cpu, tls=tls)
    return start_python_origin(cpu)


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    client: str
    rps: float | None
    cpu_us: float | None
    error: str | None
    rss_mb: float | None = None


def run_child(
    scenario: str,
    client: str,
    *,
    url: str,
    n: int,
    warmup: int,
    cpu: int | None,
    timeout: float,
    ca: str | None = None,
) -> Row:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", scenario, client]
    command += ["--url", url, "--n", str(n), "--warmup", str(warmup)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    if ca is not None:
        command += ["--ca", ca]
    # The child measures this checkout's flext_api, whatever the venv has installed.
    path = os.pathsep.join(filter(None, (str(HERE.parent), os.environ.get("PYTHONPATH"))))
    env = dict(os.environ, PYTHONPATH=path)
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        return Row(scenario, client, None, None, f"timed out after {timeout:.0f} s")
    for line in done.stdout.decode(errors="replace").splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
            if "error" in result:
                return Row(scenario, client, None, None, str(result["error"]))
            return Row(
                scenario, client, result["rps"], result["cpu_us"], None, result.get("rss_mb")
            )
    tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return Row(scenario, client, None, None, f"crashed (status {done.returncode}): {tail[0]}")


def _version(client: str) -> str:
    distribution = DISTRIBUTIONS.get(client.split("-", maxsplit=1)[0])
    if distribution is None:
        return "-"
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def render(rows: list[Row], header: list[str]) -> str:
    lines = [*header, ""]
    lines.append("| scenario | client | req/s | CPU us/req | peak RSS MB | ratio vs flext-api |")
    lines.append("|---|---|---:|---:|---:|---:|")
    flext: dict[str, float | None] = {}
    for row in rows:
        if row.client.startswith("flext"):
            flext.setdefault(row.scenario, row.cpu_us)
    for row in rows:
        label = LABELS.get(row.client, row.client)
        version = _version(row.client)
        if version != "-":
            label = f"{label} {version}"
        if row.cpu_us is None or row.rps is None:
            lines.append(f"| {SCENARIO_TITLES[row.scenario]} | {label} | - | - | - | {row.error} |")
            continue
        base = flext.get(row.scenario)
        ratio = f"{row.cpu_us / base:.2f}x" if base else "n/a"
        lines.append(
            f"| {SCENARIO_TITLES[row.scenario]} | {label} | {row.rps:,.0f} "
            f"| {row.cpu_us:,.1f} | {row.rss_mb or 0:,.0f} | {ratio} |"
        )
    lines += [
        "",
        "ratio vs flext-api = this client's CPU us/req / flext-api's (above 1: flext-api is "
        "cheaper).",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Client CPU cost per request: flext-api and peers on a loopback origin."
    )
    parser.add_argument("--n", type=int, default=20000, help="measured requests per client")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="requests before measuring")
    parser.add_argument("--only", choices=sorted(SCENARIOS), help="run one scenario")
    parser.add_argument("--clients", help="comma-separated client names (default: all)")
    parser.add_argument("--origin", choices=["auto", "nginx", "python"], default="auto")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--tls", action="store_true", help="HTTP/1.1 over TLS (nginx only)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per client run")
    # Internal: run one measurement in this process (the parent starts these).
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "CLIENT"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)

    cpus = sorted(os.sched_getaffinity(0))
    client_cpu, origin_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    wanted = set(args.clients.split(",")) if args.clients else None
    known = set(DISTRIBUTIONS) | set(LABELS)
    if wanted and not wanted <= known:
        raise SystemExit(f"unknown clients: {sorted(wanted - known)}; known: {sorted(known)}")
    # "flext" stands for one row per HTTP/1.1 parser when the client offers a choice.
    variants = flext_clients()
    plan = [
        (scenario, variant)
        for scenario, default in SCENARIOS.items()
        if args.only in (None, scenario)
        for client in (*default, *OPTIONAL[scenario])
        if (client in wanted if wanted else client in default)
        for variant in (variants if client == "flext" else (client,))
    ]
    load = os.getloadavg()[0]
    origin = start_origin(args.origin, origin_cpu, tls=args.tls)
    try:
        print(f"origin: {origin.name} at {origin.url}", flush=True)
        if load > 0.5:
            print(f"warning: load average {load:.2f} at start: the figures will be noisy")
        if client_cpu is None:
            print("warning: fewer than 2 CPUs, client and origin are not pinned", flush=True)
        rows = []
        for scenario, client in plan:
            row = run_child(
                scenario,
                client,
                url=origin.url,
                n=args.n,
                warmup=args.warmup,
                cpu=client_cpu,
                timeout=args.timeout,
                ca=origin.ca,
            )
            shown = f"{row.rps:,.0f} req/s, {row.cpu_us:,.1f} us/req" if row.cpu_us else row.error
            print(f"  {scenario:8} {client:16} {shown}", flush=True)
            rows.append(row)
    finally:
        origin.stop()

    protocol = "HTTP/1.1 over TLS" if args.tls else "HTTP/1.1"
    header = [
        "# flext-api benchmark results",
        "",
        f"- {protocol}; origin: {origin.name} on 127.0.0.1, pinned to CPU {origin_cpu}; "
        f"clients pinned to CPU {client_cpu}, one fresh process each",
        f"- N = {args.n} measured requests after {args.warmup} warm-up requests; "
        f"async scenarios: {CONCURRENCY} tasks in flight",
        f"- Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start, "
        f"{time.strftime('%Y-%m-%d %H:%M')}",
    ]
    table = render(rows, header)
    print()
    print(table, end="")
    args.output.write_text(table)
    if args.json is not None:
        summary = {
            "protocol": protocol,
            "origin": origin.name,
            "n": args.n,
            "load_start": load,
            "parsers": list(http1_parsers()),
            "rows": [
                {
                    "scenario": row.scenario,
                    "client": row.client,
                    "label": LABELS.get(row.client, row.client),
                    "version": _version(row.client),
                    "rps": row.rps,
                    "cpu_us": row.cpu_us,
                    "rss_mb": row.rss_mb,
                    "error": row.error,
                }
                for row in rows
            ],
        }
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
