"""S3 upload and download of a large object: flext-api's S3Storage against boto3 and obstore.

Two servers on 127.0.0.1: a local sink (benchmarks/s3_sink.py: discards uploads, serves
downloads, so the figure is the client's) and moto in server mode (a real S3 emulator, so
the requests are the real ones; its own cost dominates there). Every client signs every
request (SigV4; over http each one also hashes the payload: boto3 and obstore sign it, we do
too) and reads or writes the same file in /dev/shm. Each run is a fresh Python process; its
peak RSS is the kernel's (``ru_maxrss`` from ``wait4``), its throughput is MiB / wall time
of the transfer alone (imports and client creation excluded).

    python benchmarks/storage.py [--size-mib 1024] [--moto-size-mib 1024] [--repeat 2]

Writes benchmarks/results-storage.md (and prints it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent
RESULT: Final = "RESULT "
KEY_ID: Final = "AKIDBENCHMARK"
SECRET: Final = "benchmark/secret/key+value"
REGION: Final = "us-east-1"
CLIENTS: Final = ("flext-sync", "flext-asyncio", "boto3", "obstore")


# -- one measured run (in its own process) -------------------------------------------------


def _flext_sync(op: str, endpoint: str, bucket: str, key: str, path: Path) -> None:
    from flext_api.storage.s3 import S3Storage

    with S3Storage(
        bucket,
        endpoint=endpoint,
        region=REGION,
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
    ) as storage:
        started = time.perf_counter()
        if op == "upload":
            storage.upload_file(key, path).unwrap()
        else:
            storage.download_file(key, path).unwrap()
        _report(time.perf_counter() - started)


def _flext_asyncio(op: str, endpoint: str, bucket: str, key: str, path: Path) -> None:
    import asyncio

    from flext_api.storage.s3 import AsyncS3Storage

    async def run() -> None:
        async with AsyncS3Storage(
            bucket,
            endpoint=endpoint,
            region=REGION,
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
        ) as storage:
            started = time.perf_counter()
            if op == "upload":
                (await storage.upload_file(key, path)).unwrap()
            else:
                (await storage.download_file(key, path)).unwrap()
            _report(time.perf_counter() - started)

    asyncio.run(run())


def _boto3(op: str, endpoint: str, bucket: str, key: str, path: Path) -> None:
    import boto3  # type: ignore[import-untyped]

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    started = time.perf_counter()
    if op == "upload":
        client.upload_file(str(path), bucket, key)
    else:
        client.download_file(bucket, key, str(path))
    _report(time.perf_counter() - started)


def _obstore(op: str, endpoint: str, bucket: str, key: str, path: Path) -> None:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        bucket,
        endpoint=endpoint,
        region=REGION,
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    started = time.perf_counter()
    if op == "upload":
        obstore.put(store, key, path)
    else:
        with path.open("wb") as sink:
            for chunk in obstore.get(store, key).stream(min_chunk_size=1 << 20):
                sink.write(chunk)
    _report(time.perf_counter() - started)


RUNNERS: Final = {
    "flext-sync": _flext_sync,
    "flext-asyncio": _flext_asyncio,
    "boto3": _boto3,
    "obstore": _obstore,
}


def _report(seconds: float) -> None:
    print(RESULT + json.dumps({"seconds": seconds}), flush=True)


# -- the harness ---------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not start") from None
            time.sleep(0.05)


@contextmanager
def _sink() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "s3_sink.py"), str(port)], stdout=subprocess.DEVNULL
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/bench?list-type=2", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait()


@contextmanager
def _moto() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(url + "/moto-api/", process)
        import boto3

        boto3.client(
            "s3",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        ).create_bucket(Bucket="bench")
        yield url
    finally:
        process.terminate()
        process.wait()


def _measure(client: str, op: str, endpoint: str, key: str, path: Path) -> dict[str, Any]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--one", client, op, endpoint, key, str(path)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    line = next((x for x in output.splitlines() if x.startswith(RESULT)), None)
    if process.returncode != 0 or line is None:
        return {"error": f"exit {process.returncode}"}
    seconds = json.loads(line.removeprefix(RESULT))["seconds"]
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": seconds, "rss_mib": usage.ru_maxrss / 1024, "cpu_s": cpu}


def _make_source(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    block = bytes(range(256)) * 4096
    with path.open("wb") as file:
        for _ in range(size // len(block)):
            file.write(block)
        file.write(block[: size % len(block)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--moto-size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--targets", default="sink,moto")
    parser.add_argument("--out", default=str(HERE / "results-storage.md"))
    args = parser.parse_args()
    clients = args.clients.split(",")
    work = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path("/tmp")
    rows: list[tuple[str, str, str, int, dict[str, Any]]] = []
    for target in args.targets.split(","):
        size = (args.size_mib if target == "sink" else args.moto_size_mib) << 20
        source = work / f"flext-bench-{size}.bin"
        _make_source(source, size)
        server = _sink if target == "sink" else _moto
        with server() as endpoint:
            for op in ("upload", "download"):
                for client in clients:
                    best: dict[str, Any] | None = None
                    for _ in range(args.repeat):
                        if op == "upload":
                            got = _measure(client, op, endpoint, "bench/object.bin", source)
                        else:
                            # What the last upload stored (on the sink: its size).
                            key = "bench/object.bin"
                            target_path = work / f"flext-bench-{client}.out"
                            got = _measure(client, op, endpoint, key, target_path)
                            with suppress(FileNotFoundError):
                                target_path.unlink()
                        print(target, op, client, got, file=sys.stderr, flush=True)
                        if "error" in got or best is None or got["seconds"] < best["seconds"]:
                            best = got if best is None or "error" not in got else best
                    assert best is not None
                    rows.append((target, op, client, size, best))
    _write(rows, args)


def _write(rows: list[tuple[str, str, str, int, dict[str, Any]]], args: argparse.Namespace) -> None:
    lines = [
        "# Storage benchmark: S3 upload and download",
        "",
        f"Command: `python benchmarks/storage.py --size-mib {args.size_mib} "
        f"--moto-size-mib {args.moto_size_mib} --repeat {args.repeat}`",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}.",
        "",
        "Best of the repeats (wall time of the transfer; peak RSS of the whole process).",
        "Ratio: throughput / the best peer's (boto3, obstore) for the same target and op.",
        "Process CPU: user + system seconds of the client process, imports included (on a",
        "shared machine a steadier figure than wall time; boto3 and obstore use several threads).",
        "",
        "| target | op | client | size MiB | seconds | MiB/s | peak RSS MiB | vs best peer |"
        " process CPU s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for target, op, client, size, got in rows:
        if "error" in got:
            lines.append(f"| {target} | {op} | {client} | {size >> 20} | {got['error']} | | | | |")
            continue
        speed = (size >> 20) / got["seconds"]
        peers = [
            (s >> 20) / g["seconds"]
            for t, o, c, s, g in rows
            if t == target and o == op and c in ("boto3", "obstore") and "error" not in g
        ]
        ratio = f"{speed / max(peers):.2f}x" if peers else ""
        lines.append(
            f"| {target} | {op} | {client} | {size >> 20} | {got['seconds']:.2f} | {speed:.0f} |"
            f" {got['rss_mib']:.0f} | {ratio} | {got['cpu_s']:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        sys.path.insert(0, str(ROOT))
        client, op, endpoint, key, path = sys.argv[2:7]
        RUNNERS[client](op, endpoint, "bench", key, Path(path))
    else:
        main()
