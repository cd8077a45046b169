"""Load test of `ipguard serve` on loopback: 4 concurrent clients, 2 KB outputs.

Bounded in count and time; it talks only to 127.0.0.1 and stops by itself.
Writes bench/reports/service.md and service.json.

    python bench/service_load.py [--requests 400] [--seconds 60] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

import httpx
from common import discard_stale_index

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "bench" / "reports"
CACHE = ROOT / "bench" / ".cache"
STDLIB = Path(sysconfig.get_paths()["stdlib"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def outputs(count: int, rng: random.Random) -> list[str]:
    """About 2 KB each; one in five carries a verbatim standard-library fragment."""
    modules = sorted(STDLIB.glob("*.py"))
    words = ["the", "of", "a", "garden", "lantern", "river", "seven", "quietly"]
    words += ["orchard", "ledger", "harbour"]
    out = []
    for i in range(count):
        prose = " ".join(rng.choice(words) for _ in range(320))[:2048]
        if i % 5 == 0:
            source = rng.choice(modules).read_text(encoding="utf-8", errors="replace")
            start = rng.randrange(0, max(1, len(source) - 1200))
            prose = prose[:800] + "\n```python\n" + source[start : start + 1200] + "\n```\n"
        out.append(prose)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    index = CACHE / "service.ipguard.db"
    discard_stale_index(index)
    exe = [sys.executable, "-m", "ipguard"]
    subprocess.run(
        [*exe, "index", "--index", str(index), *map(str, sorted(STDLIB.glob("*.py")))],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [*exe, "serve", "--index", str(index), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
            if time.monotonic() > deadline:
                raise SystemExit("server did not start")
        bodies = outputs(args.requests, random.Random(5))
        latencies: list[float] = []
        errors: list[str] = []
        blocked = 0
        lock = threading.Lock()
        cursor = iter(range(len(bodies)))
        stop_at = time.monotonic() + args.seconds

        def client() -> None:
            nonlocal blocked
            with httpx.Client(base_url=base, timeout=30) as http:
                while time.monotonic() < stop_at:
                    with lock:
                        i = next(cursor, None)
                    if i is None:
                        return
                    t0 = time.perf_counter()
                    try:
                        r = http.post("/v1/check", json={"text": bodies[i]})
                        ok = r.status_code == 200
                        action = r.json()["results"][0]["action"] if ok else None
                    except httpx.HTTPError as exc:
                        ok, action = False, None
                        with lock:
                            errors.append(repr(exc))
                    dt = time.perf_counter() - t0
                    with lock:
                        latencies.append(dt)
                        blocked += action == "block"
                        if not ok and len(errors) < 20:
                            errors.append(f"status {r.status_code}")

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    latencies.sort()
    result = {
        "command": "python bench/service_load.py " + " ".join(sys.argv[1:]),
        "clients": args.clients,
        "requests": len(latencies),
        "errors": len(errors),
        "blocked": blocked,
        "requests_per_second": round(len(latencies) / wall, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
        "output_bytes": round(statistics.mean(len(b.encode()) for b in bodies)),
        "cpu_count": os.cpu_count(),
    }
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "service.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Service load test",
        "",
        f"`{result['command'].strip()}` — {args.clients} concurrent clients on loopback, "
        f"outputs of about {result['output_bytes']} bytes (one in five with a copied fragment).",
        "",
        "| requests | errors | blocked | requests/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
        f"| {result['requests']} | {result['errors']} | {result['blocked']} | "
        f"{result['requests_per_second']} | {result['p50_ms']} | {result['p99_ms']} |",
    ]
    (REPORTS / "service.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
