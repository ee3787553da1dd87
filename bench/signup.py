#!/usr/bin/env python3
"""Benchmark: sign-up throughput and latency as production runs it (issue 16).

Per database (SQLite, PostgreSQL): a fresh database with --subscribers confirmed subscribers
(``import-subscribers``), then per phase smtp-sink, ``flask worker`` (sending the DOI mails)
and gunicorn (``wsgi:app``, --workers, --worker-class) on loopback, driven by wrk with
--connections connections for --duration seconds:

- ``get``: the sign-up form (GET /);
- ``post``: the form's POST /subscribe, a new address each request;
- ``post-slow``: the same POST while smtp-sink answers each mail after 1 s (``-w 1``);
- ``api``: POST /api/v1/subscriptions (SPEC §8) from an allowed origin.

After each POST phase it waits for the worker and checks that every 2xx left a pending
subscriber and a queued DOI mail (up to one request per connection may still be in flight
when wrk stops). Rate limits are off (the peer has none). Peak RSS is gunicorn's master and
workers together, from /proc.

With ``--peer DIR`` (``../shared/peers/django_newsletter``, its venv by ``--peer-python``)
each round runs the peer's ``bench_signup.py`` for the same phases first, then ours, and the
table ends with our rate as a multiple of the peer's. ``--root DIR`` measures the code of
another checkout (a git worktree of an older commit) with this script; with several, they
take turns in every round too (before and after under the same load).

    .venv/bin/python bench/signup.py                                  # 3 rounds, 20 s phases
    .venv/bin/python bench/signup.py --runs 1 --duration 3 --slow-duration 3 --subscribers 1000
    .venv/bin/python bench/signup.py --peer ../shared/peers/django_newsletter --peer-python /tmp/dn-venv/bin/python
    .venv/bin/python bench/signup.py --root /tmp/before . --databases sqlite

PostgreSQL databases ``bench_<pid>_signup`` are made on the server of BENCH_PG_ADMIN_URI (see
send_digest.py). Never part of the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from send_digest import drop_database, free_port, fresh_database, write_subscribers  # noqa: E402

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
LUA = HERE / "signup_wrk.lua"
ORIGIN = "https://publisher.bench.example"
POST_PHASES = ("post", "post-slow", "api")
PEER_PHASES = {"get": "get", "post": "post", "post-slow": "post-slow"}  # ours → the peer's name


@dataclass
class Result:
    target: str
    phase: str
    round: int
    req_per_s: float
    p50_ms: float
    p99_ms: float
    rss_mib: float
    checked: str = "-"
    extra: dict = field(default_factory=dict)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> dict:
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.M))
    ok, other = map(int, re.search(r"statuses 2xx=(\d+) other=(\d+)", output).groups())
    return {
        "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _ms(percentiles["50"]),
        "p99_ms": _ms(percentiles["99"]),
        "ok": ok,
        "other": other,
    }


def tree_rss(pid: int) -> int:
    """RSS in bytes of a process and its children (gunicorn's master and workers)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024
            todo += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total


class PeakRss(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.halt = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.2):
            self.peak = max(self.peak, tree_rss(self.pid))

    def stop(self) -> float:
        self.halt.set()
        self.join()
        return self.peak / 2**20


class Service:
    """Our service on one database: prepared once, started per phase as production runs it."""

    def __init__(self, args, root: Path, kind: str, folder: Path, label: str):
        self.args, self.root, self.kind, self.folder, self.label = args, root, kind, folder, label
        self.database_name = f"{args.pg_database}_{folder.name}"
        self.uri = fresh_database(kind, self.database_name, folder)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "FLASK_"))},
            "PYTHONPATH": str(root),
            "NEWSLETTER_SECRET_KEY": "bench-secret-key-bench-secret-key",
            "NEWSLETTER_INSTANCE_PATH": str(folder / "instance"),
            "NEWSLETTER_SQLALCHEMY_DATABASE_URI": self.uri,
            "NEWSLETTER_RATELIMIT_ENABLED": "false",
            "NEWSLETTER_EMBEDDED_WORKER": "false",
            "NEWSLETTER_EMBED_ORIGINS": json.dumps([ORIGIN]),
            "NEWSLETTER_MAIL_BACKEND": "smtp",
            "NEWSLETTER_MAIL_SERVER": "127.0.0.1",
        }
        self.flask("db", "upgrade")
        csv_path = folder / "subscribers.csv"
        write_subscribers(csv_path, args.subscribers)
        self.flask("import-subscribers", str(csv_path))
        self.processes: list[subprocess.Popen] = []

    def flask(self, *args: str) -> str:
        result = subprocess.run([PYTHON, "-m", "flask", "--app", "wsgi", *args], cwd=self.root,
                                env=self.env, capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start(self, slow: bool) -> int:
        smtp_port, http_port = free_port(), free_port()
        env = {**self.env, "NEWSLETTER_MAIL_PORT": str(smtp_port)}
        sink = ["/usr/sbin/smtp-sink", *(["-u", "nobody"] if os.geteuid() == 0 else []),
                *(["-w", "1"] if slow else []), f"127.0.0.1:{smtp_port}", "512"]
        gunicorn = [PYTHON, "-m", "gunicorn", "--workers", str(self.args.workers),
                    "--worker-class", self.args.worker_class, "--threads", str(self.args.threads),
                    "--bind", f"127.0.0.1:{http_port}", "--log-level", "warning", "wsgi:app"]
        log = (self.folder / "service.log").open("ab")
        for command in (sink, [PYTHON, "-m", "flask", "--app", "wsgi", "worker"], gunicorn):
            self.processes.append(subprocess.Popen(command, cwd=self.root, env=env, stdout=log, stderr=log))
        for _ in range(600):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=2)
                connection.request("GET", "/")
                if connection.getresponse().status == 200:
                    time.sleep(0.5)  # the other workers finish booting
                    return http_port
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"gunicorn did not start; see {self.folder / 'service.log'}")

    @property
    def gunicorn_pid(self) -> int:
        return self.processes[-1].pid

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []

    def unsent(self) -> int:
        """Mails not sent yet. A phase starts and ends with none (:func:`wait_until_sent`), so no
        phase pays for the mail of the one before: the GET of the second round lost a third of
        its rate sending the first round's DOI mails."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.uri)
        with engine.connect() as connection:
            count = connection.execute(text(
                "SELECT count(*) FROM delivery WHERE status IN ('queued', 'sending', 'retrying')")).scalar()
        engine.dispose()
        return count

    def counts(self, prefix: str) -> tuple[int, int, int]:
        """(requests not carried out yet, pending subscribers, their queued or sent DOI mails)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.uri)
        pattern = prefix + "-%"
        with engine.connect() as connection:
            waiting = connection.execute(text("SELECT count(*) FROM address_request")).scalar()
            pending = connection.execute(text(
                "SELECT count(*) FROM subscriber WHERE email LIKE :p AND status = 'pending'"), {"p": pattern}).scalar()
            mails = connection.execute(text(
                "SELECT count(*) FROM delivery JOIN subscriber ON subscriber.id = delivery.subscriber_id"
                " WHERE subscriber.email LIKE :p AND delivery.kind = 'confirm'"), {"p": pattern}).scalar()
        engine.dispose()
        return waiting, pending, mails

    def settle(self) -> None:
        """PostgreSQL: vacuum, analyze and checkpoint before a phase, so that none pays for the
        dead rows and dirty pages of the one before (of this checkout or another's: a second
        checkout measured right after the first was up to 30 % slower in the same code)."""
        if self.kind != "postgres":
            return
        from sqlalchemy import create_engine, text

        engine = create_engine(self.uri, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("VACUUM ANALYZE"))
            connection.execute(text("CHECKPOINT"))
        engine.dispose()

    def drop(self) -> None:
        drop_database(self.kind, self.database_name)


def form_fields(port: int) -> dict[str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/", headers={"Accept-Language": "de"})
    page = connection.getresponse()
    html = page.read().decode()
    fields = dict(re.findall(r'name="(csrf_token|consent_version)"[^>]*?value="([^"]*)"', html))
    return {"COOKIE": page.getheader("Set-Cookie").split(";", 1)[0], "CSRF_TOKEN": fields["csrf_token"],
            "CONSENT_VERSION": fields["consent_version"], "ORIGIN": ORIGIN}


def run_wrk(args, port: int, path: str, env: dict, duration: int) -> dict:
    command = ["wrk", "-t", "1", "-c", str(args.connections), "-d", f"{duration}s", "--timeout", "10s",
               "--latency", "-s", str(LUA), f"http://127.0.0.1:{port}{path}"]
    result = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True,
                            timeout=duration + 60)
    if result.returncode:
        raise SystemExit(f"wrk failed: {result.stderr}")
    return parse_wrk(result.stdout)


def check(service: Service, prefix: str, ok: int, connections: int) -> str:
    """Every 2xx left a pending subscriber and a queued mail (the worker given up to 5 min)."""
    deadline = time.monotonic() + 300
    while (counts := service.counts(prefix))[0] and time.monotonic() < deadline:
        time.sleep(0.5)
    waiting, pending, mails = counts
    fine = waiting == 0 and pending == mails and 0 <= pending - ok <= connections
    return ("ok" if fine else "FAILED") + f" ({ok} 2xx, {pending} pending, {mails} mails)"


def wait_until_sent(service: Service) -> None:
    """Let the worker send what is queued (up to 5 min) before the phase or after it; not with
    post-slow's sink, which takes a mail a second per connection."""
    deadline = time.monotonic() + 300
    while service.unsent() and time.monotonic() < deadline:
        time.sleep(0.5)


def measure_ours(args, service: Service, phase: str, round_: int) -> Result:
    service.settle()
    port = service.start(slow=phase == "post-slow")
    if phase != "post-slow":
        wait_until_sent(service)  # what post-slow left behind goes out through this phase's sink
    sampler = PeakRss(service.gunicorn_pid)
    sampler.start()
    try:
        prefix = f"{phase}-{uuid.uuid4().hex[:8]}"
        env = {**form_fields(port), "EMAIL_PREFIX": prefix, "CLOSE": "1" if args.close else "0",
               "MODE": {"get": "get", "api": "api"}.get(phase, "form")}
        path = {"get": "/", "api": "/api/v1/subscriptions"}.get(phase, "/subscribe")
        duration = args.slow_duration if phase == "post-slow" else args.duration
        figures = run_wrk(args, port, path, env, duration)
        checked = check(service, prefix, figures["ok"], args.connections) if phase in POST_PHASES else "-"
        if phase != "post-slow":
            wait_until_sent(service)
        if phase == "get" and figures["other"]:
            checked = f"FAILED ({figures['other']} non-2xx)"
    finally:
        rss = sampler.stop()
        service.stop()
    return Result(service.label, phase, round_, figures["req_per_s"], figures["p50_ms"], figures["p99_ms"],
                  rss, checked)


def measure_peer(args, round_: int, folder: Path) -> list[Result]:
    phases = [PEER_PHASES[p] for p in args.phases if p in PEER_PHASES]
    command = [str(args.peer_python), "bench_signup.py", "--workdir", str(folder / "peer"), "--runs", "1",
               "--duration", str(args.duration), "--slow-duration", str(args.slow_duration),
               "--existing", str(args.subscribers), "--connections", str(args.connections),
               "--http-port", str(free_port()), "--smtp-port", str(free_port()), "--phases", *phases]
    result = subprocess.run(command, cwd=args.peer, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"the peer's harness failed:\n{result.stdout}\n{result.stderr}")
    results = []
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            run = json.loads(line)
            results.append(Result("peer", run["phase"], round_, run["req_per_s"], run["p50_ms"], run["p99_ms"],
                                  0.0, "ok" if run.get("consistent", True) else "FAILED"))
    rss = re.findall(r"^\| ([\w-]+) \|.*\| (\d+) \| [^|]* \|$", result.stdout, re.M)
    for phase, mib in rss:  # the peer prints peak RSS in its closing table only
        for item in results:
            if item.phase == phase:
                item.rss_mib = float(mib)
    return results


def report(args, results: list[Result]) -> None:
    targets = (["peer"] if args.peer else []) + list(dict.fromkeys(r.target for r in results if r.target != "peer"))
    print(f"\nmedians of {args.runs} round(s); wrk -t1 -c{args.connections}, {args.duration} s "
          f"({args.slow_duration} s post-slow); gunicorn {args.workers} × {args.worker_class}"
          f" (threads {args.threads}){', no keep-alive' if args.close else ''}; {args.subscribers} subscribers;"
          f" code: {', '.join(map(str, args.root))}")
    print("| target | phase | req/s (runs) | p50 ms | p99 ms | peak RSS MiB | × peer | check |")
    print("|---|---|---|---|---|---|---|---|")
    for target in targets:
        for phase in args.phases:
            runs = [r for r in results if r.target == target and r.phase == phase]
            if not runs:
                continue
            rate = statistics.median(r.req_per_s for r in runs)
            peer_phase = "post" if phase == "api" else phase
            peer = [r.req_per_s for r in results if r.target == "peer" and r.phase == peer_phase]
            ratio = f"{rate / statistics.median(peer):.2f}" if peer and target != "peer" else "-"
            p50, p99 = (statistics.median(getattr(r, name) for r in runs) for name in ("p50_ms", "p99_ms"))
            print(f"| {target} | {phase} | {rate:.1f} ({', '.join(f'{r.req_per_s:.1f}' for r in runs)}) | "
                  f"{p50:.1f} | {p99:.1f} | {max(r.rss_mib for r in runs):.0f} | {ratio} |"
                  f" {'; '.join(r.checked for r in runs)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--phases", nargs="+", choices=["get", *POST_PHASES], default=["get", *POST_PHASES])
    parser.add_argument("--runs", type=int, default=3, help="rounds; each runs every target and phase once")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--slow-duration", type=int, default=10)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--close", action="store_true",
                        help="a new connection per request (as from a proxy without upstream keep-alive)")
    parser.add_argument("--root", type=Path, nargs="+", default=[HERE.parent],
                        help="the checkouts whose code is measured; several take turns in every round")
    parser.add_argument("--pg-database", default=f"bench_{os.getpid()}_signup",
                        help="name of the PostgreSQL database made (and dropped) for the run")
    parser.add_argument("--peer", type=Path, help="the peer's harness (…/peers/django_newsletter)")
    parser.add_argument("--peer-python", type=Path, help="the python of the peer's venv (its setup.sh)")
    args = parser.parse_args()
    args.root = [root.resolve() for root in args.root]
    if args.peer and not args.peer_python:
        parser.error("--peer needs --peer-python")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-signup-") as tmp:
        folder = Path(tmp)
        services = {}
        try:
            for number, root in enumerate(args.root):
                for kind in args.databases:
                    label = kind if len(args.root) == 1 else f"{root.name}/{kind}"
                    (folder / f"{kind}{number}").mkdir()
                    services[label] = Service(args, root, kind, folder / f"{kind}{number}", label)
            for round_ in range(1, args.runs + 1):
                if args.peer:
                    for item in measure_peer(args, round_, folder):
                        results.append(item)
                        print(json.dumps(item.__dict__), flush=True)
                for service in services.values():
                    for phase in args.phases:
                        item = measure_ours(args, service, phase, round_)
                        results.append(item)
                        print(json.dumps(item.__dict__), flush=True)
        finally:
            for service in services.values():
                service.stop()
                service.drop()
    report(args, results)


if __name__ == "__main__":
    main()
