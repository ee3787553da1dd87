#!/usr/bin/env python3
"""Benchmark: does ``POST /subscribe`` take the same time whatever the address's state?

A slow or fast answer must not tell whether an address is new, pending, confirmed or
withdrawn (SPEC §3, issue 12 point 4). gunicorn (2 sync workers) serves the app on
loopback; the database holds --per-state addresses in each state; one client signs every
one of them up again, all states interleaved in a shuffled order (seeded), and the median
time per state is printed with the spread between the slowest and fastest median.

    .venv/bin/python bench/signup_timing.py                     # PostgreSQL, 250 per state
    .venv/bin/python bench/signup_timing.py --database sqlite --per-state 200
    .venv/bin/python bench/signup_timing.py --root /path/to/other/checkout   # compare code

No worker runs during the measurement (what it does later is not on the request's path).
Rate limits are off. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from send_digest import drop_database, free_port, fresh_database  # noqa: E402

PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
STATES = ("new", "pending", "confirmed", "withdrawn")


def run_flask(root: Path, env: dict, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "-m", "flask", "--app", "wsgi", *args], cwd=root, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def prepare(root: Path, env: dict, folder: Path, uri: str, per_state: int) -> None:
    """Pending, confirmed and withdrawn subscribers by the import (and one UPDATE)."""
    run_flask(root, env, "db", "upgrade")
    path = folder / "subscribers.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "consented_at", "confirmed_at", "ip", "source"])
        for i in range(per_state):
            writer.writerow([f"pending{i}@bench.example", "", "", "", "bench"])
            for state in ("confirmed", "withdrawn"):
                writer.writerow([f"{state}{i}@bench.example", "2025-01-02T10:00:00Z", "2025-01-02T10:04:00Z",
                                 "192.0.2.1", "bench"])
    run_flask(root, env, "import-subscribers", str(path))
    from sqlalchemy import create_engine, text

    engine = create_engine(uri)
    with engine.begin() as connection:
        connection.execute(text("UPDATE subscriber SET status = 'withdrawn' WHERE email LIKE 'withdrawn%'"))
        connection.execute(text("DELETE FROM delivery"))  # the pending rows' DOI mails from the import
        connection.execute(text("DELETE FROM doi_send"))  # their caps, which would make pending cheaper
    engine.dispose()


def start_server(root: Path, env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [GUNICORN, "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/subscribe")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("gunicorn did not start")


def measure(port: int, per_state: int, seed: int) -> dict[str, list[float]]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", "/subscribe", headers={"Accept-Language": "de"})
    page = connection.getresponse()
    cookie = page.getheader("Set-Cookie").split(";", 1)[0]
    html = page.read().decode()
    fields = dict(re.findall(r'name="(csrf_token|consent_version)"[^>]*?value="([^"]*)"', html))
    order = [(state, i) for state in STATES for i in range(per_state)]
    random.Random(seed).shuffle(order)
    times: dict[str, list[float]] = {state: [] for state in STATES}
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, "Accept-Language": "de"}
    for state, i in order:
        body = urlencode({**fields, "email": f"{state}{i}@bench.example", "website": ""})
        started = time.perf_counter()
        connection.request("POST", "/subscribe", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        times[state].append(time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"POST for a {state} address answered {response.status}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-state", type=int, default=250)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose code is measured")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder_path = Path(folder)
        uri = fresh_database(args.database, "bench_signup_timing", folder_path)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "FLASK_"))},
            "NEWSLETTER_SECRET_KEY": "bench-secret-key-bench-secret-key",
            "NEWSLETTER_INSTANCE_PATH": str(folder_path / "instance"),
            "NEWSLETTER_SQLALCHEMY_DATABASE_URI": uri,
            "NEWSLETTER_RATELIMIT_ENABLED": "false",
            "NEWSLETTER_EMBEDDED_WORKER": "false",
        }
        prepare(args.root, env, folder_path, uri, args.per_state)
        port = free_port()
        server = start_server(args.root, env, port)
        try:
            times = measure(port, args.per_state, args.seed)
        finally:
            server.terminate()
            server.wait()
        drop_database(args.database, "bench_signup_timing")
    medians = {state: statistics.median(values) * 1000 for state, values in times.items()}
    print(f"code: {args.root}; database: {args.database}; {args.per_state} interleaved requests per state")
    for state in STATES:
        ordered = sorted(times[state])
        p90 = ordered[int(len(ordered) * 0.9)] * 1000
        print(f"  {state:>10}: median {medians[state]:6.2f} ms, p90 {p90:6.2f} ms")
    spread = max(medians.values()) / min(medians.values()) - 1
    print(f"  slowest median / fastest median: +{spread:.1%}")


if __name__ == "__main__":
    main()
