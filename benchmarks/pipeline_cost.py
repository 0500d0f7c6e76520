"""What the client pipeline costs per request: the blocking client against a loopback origin
with no middleware, with the default cookie jar, and with auth + retries + cookies.

Each configuration runs in a fresh process pinned to CPU 0 (the origin to CPU 1, as in
``benchmarks/run.py``); the figure is the client process's CPU microseconds per request.

    python -m benchmarks.pipeline_cost [--n 20000] [--url http://127.0.0.1:PORT/]

Without ``--url`` it starts nginx (or ``benchmarks/origin.py``) the way ``run.py`` does.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CONFIGS = {
    "no middleware (cookies=False)": "dict(cookies=False)",
    "default (cookie jar)": "dict()",
    "auth + retry + cookies": (
        "dict(auth=flext_api.BearerAuth('token'), retry=flext_api.RetryPolicy())"
    ),
}

CHILD = """
import json, os, time
import flext_api
os.sched_setaffinity(0, {{0}})
options = {options}
with flext_api.FlextApiClient(**options) as client:
    for _ in range(500):
        client.get({url!r}).unwrap()
    started = time.process_time()
    for _ in range({n}):
        response = client.get({url!r}).unwrap()
        assert response.status_code == 200
    spent = time.process_time() - started
print(json.dumps({{"us": spent / {n} * 1e6}}))
"""


def measure(url: str, n: int) -> dict[str, float]:
    results = {}
    for label, options in CONFIGS.items():
        code = CHILD.format(options=options, url=url, n=n)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        results[label] = float(json.loads(done.stdout.strip().splitlines()[-1])["us"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--url")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if args.url:
        results = measure(args.url, args.n)
    else:
        from benchmarks.run import start_origin

        origin = start_origin("auto", 1)
        try:
            results = measure(origin.url + "/", args.n)
        finally:
            origin.stop()
    base = results["no middleware (cookies=False)"]
    print("| configuration | CPU us/request | vs no middleware |")
    print("|---|---:|---:|")
    for label, value in results.items():
        print(f"| {label} | {value:.1f} | {value / base - 1:+.1%} |")
    print(f"(n={args.n}, CPU us per request of the client process)")


if __name__ == "__main__":
    main()
