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
    # Python calls per request: deterministic, so it shows small differences that CPU time on
    # a busy machine hides.
    import cProfile, pstats
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(2000):
        client.get({url!r})
    profile.disable()
    calls = pstats.Stats(profile).total_calls / 2000
print(json.dumps({{"us": spent / {n} * 1e6, "calls": calls}}))
"""


def measure(url: str, n: int) -> dict[str, tuple[float, float]]:
    results = {}
    for label, options in CONFIGS.items():
        code = CHILD.format(options=options, url=url, n=n)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        results[label] = (float(figures["us"]), float(figures["calls"]))
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
    base_us, base_calls = results["no middleware (cookies=False)"]
    print("| configuration | CPU us/request | vs none | Python calls/request | vs none |")
    print("|---|---:|---:|---:|---:|")
    for label, (us, calls) in results.items():
        print(
            f"| {label} | {us:.1f} | {us / base_us - 1:+.1%} | {calls:.0f} | "
            f"{calls / base_calls - 1:+.1%} |"
        )
    print(f"(n={args.n}, CPU us per request of the client process)")


if __name__ == "__main__":
    main()
