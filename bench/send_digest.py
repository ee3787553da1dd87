#!/usr/bin/env python3
"""Benchmark: import N subscribers, then send-digest end to end into a local SMTP sink.

In one run, for each N: a fresh database, ``import-subscribers`` of N confirmed rows (timed),
5 articles, ``send-digest`` (timed, peak RSS), and as the baseline the same number of
pre-built 10 KB messages over one persistent smtplib connection to the same sink. Prints
msgs/s for both, their ratio, peak RSS and import time, each the median of --runs runs.

    .venv/bin/python bench/send_digest.py                      # 10k and 100k, 3 runs, PostgreSQL
    .venv/bin/python bench/send_digest.py --sizes 2000 --runs 1 --database sqlite
    .venv/bin/python bench/send_digest.py --sizes 10000 --dkim both   # unsigned and signed, in turn

With ``--dkim on`` every mail is DKIM-signed (a 2048-bit RSA key made for the run); ``both``
runs unsigned and signed in turn and prints the signed rate as a share of the unsigned one.
Databases are named ``bench_<pid>_…`` on the server of BENCH_PG_ADMIN_URI (a database there to
connect to for CREATE/DROP DATABASE; default the ``test`` database of 127.0.0.1).

The sink is Postfix's ``smtp-sink`` (Debian package postfix) where installed, else aiosmtpd
in a separate process. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_ADMIN_URI = os.environ.get("BENCH_PG_ADMIN_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    sink = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else None)
    if sink:
        command = [sink, "-u", "nobody", f"127.0.0.1:{port}", "512"]
    else:
        command = [PYTHON, "-c", _AIOSMTPD_SINK, str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the SMTP sink did not start")


_AIOSMTPD_SINK = """
import sys, time
from aiosmtpd.controller import Controller
class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1])).start()
while True:
    time.sleep(3600)
"""


def drop_database(kind: str, name: str) -> None:
    if kind == "sqlite":
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_database(kind: str, name: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'bench.db'}"
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URI.rsplit("/", 1)[0] + f"/{name}"


def flask(env: dict, *args: str) -> tuple[float, int, str]:
    """Run ``flask --app wsgi ARGS``; returns (seconds, peak RSS in KiB, output)."""
    timing = tempfile.NamedTemporaryFile(delete=False)
    started = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", timing.name, PYTHON, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    peak = int(Path(timing.name).read_text().split()[-1])
    os.unlink(timing.name)
    return seconds, peak, result.stdout


def write_subscribers(path: Path, count: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "consented_at", "confirmed_at", "ip", "source"])
        for i in range(count):
            writer.writerow([f"reader{i}@bench.example", "2025-01-02T10:00:00Z", "2025-01-02T10:04:00Z",
                             f"192.0.2.{i % 250}", "bench"])


def baseline(port: int, count: int) -> float:
    """msgs/s of pre-built 10 KB messages over one persistent smtplib connection."""
    message = EmailMessage()
    message["From"] = "bench@bench.example"
    message["To"] = "reader@bench.example"
    message["Subject"] = "baseline"
    message.set_content(("x" * 99 + "\n") * 100)
    raw = message.as_bytes()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        for i in range(count):
            smtp.sendmail("bench@bench.example", [f"reader{i}@bench.example"], raw)
        return count / (time.perf_counter() - started)


def dkim_settings(folder: Path) -> dict[str, str]:
    """NEWSLETTER_DKIM_* for a 2048-bit RSA key made for this run."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "dkim.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return {
        "NEWSLETTER_DKIM_DOMAIN": "bench.example",
        "NEWSLETTER_DKIM_SELECTOR": "bench",
        "NEWSLETTER_DKIM_PRIVATE_KEY_FILE": str(path),
    }


def one_run(size: int, database: str, port: int, run: int, dkim: bool = False, with_baseline: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        folder_path = Path(folder)
        name = f"bench_{os.getpid()}_{size}_{run}{'_dkim' if dkim else ''}"
        uri = fresh_database(database, name, folder_path)
        env = {
            # Without PYTHONDONTWRITEBYTECODE, as deployed: a process that compiles every module
            # from source at start measures the compiler (about 0.1 s a run here).
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("NEWSLETTER_", "FLASK_")) and k != "PYTHONDONTWRITEBYTECODE"},
            "NEWSLETTER_SECRET_KEY": "bench-secret-key-bench-secret-key",
            "NEWSLETTER_INSTANCE_PATH": str(folder_path / "instance"),
            "NEWSLETTER_SQLALCHEMY_DATABASE_URI": uri,
            "NEWSLETTER_MAIL_BACKEND": "smtp",
            "NEWSLETTER_MAIL_SERVER": "127.0.0.1",
            "NEWSLETTER_MAIL_PORT": str(port),
            "NEWSLETTER_MAIL_DEFAULT_SENDER": "Bench News <news@bench.example>",
            "NEWSLETTER_BASE_URL": "https://news.bench.example",
            **(dkim_settings(folder_path) if dkim else {}),
        }
        flask(env, "db", "upgrade")
        csv_path = folder_path / "subscribers.csv"
        write_subscribers(csv_path, size)
        import_seconds, _, _ = flask(env, "import-subscribers", str(csv_path))
        for n in range(5):
            flask(env, "add-article", "--title", f"Article number {n} with a reasonably long headline",
                  "--url", f"https://news.bench.example/articles/{n}",
                  "--summary", "A summary of a couple of sentences. " * 6)
        send_seconds, peak_kib, output = flask(env, "send-digest")
        drop_database(database, name)
        return {
            "import_s": import_seconds,
            "digest_msgs_s": size / send_seconds,
            "peak_rss_mb": peak_kib / 1024,
            "baseline_msgs_s": baseline(port, size) if with_baseline else 0.0,
            "summary": output.strip().splitlines()[-1] if output.strip() else "",
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--dkim", choices=["off", "on", "both"], default="off")
    args = parser.parse_args()
    if args.dkim == "both":
        compare_dkim(args)
        return
    port = free_port()
    sink = start_sink(port)
    try:
        print(f"sink: {'smtp-sink' if 'smtp-sink' in ' '.join(sink.args) else 'aiosmtpd'}; database: {args.database}")
        header = (
            f"{'N':>8} {'digest msg/s':>13} {'baseline msg/s':>15} {'ratio':>6} {'peak RSS MB':>12} {'import s':>9}"
        )
        print(header)
        for size in args.sizes:
            runs = [one_run(size, args.database, port, run, args.dkim == "on") for run in range(args.runs)]
            median = {key: statistics.median(r[key] for r in runs) for key in runs[0] if key != "summary"}
            print(
                f"{size:>8} {median['digest_msgs_s']:>13.0f} {median['baseline_msgs_s']:>15.0f} "
                f"{median['digest_msgs_s'] / median['baseline_msgs_s']:>6.2f} {median['peak_rss_mb']:>12.1f} "
                f"{median['import_s']:>9.1f}",
                flush=True,
            )
            print(f"{'':>8} runs: " + "; ".join(
                f"{r['digest_msgs_s']:.0f} msg/s, {r['peak_rss_mb']:.1f} MB, import {r['import_s']:.1f} s" for r in runs
            ) + f" | {runs[-1]['summary']}", flush=True)
    finally:
        sink.terminate()
        sink.wait()


def compare_dkim(args) -> None:
    """Unsigned and signed runs in turn (so both meet the same load), medians of each."""
    port = free_port()
    sink = start_sink(port)
    try:
        print(f"sink: {'smtp-sink' if 'smtp-sink' in ' '.join(sink.args) else 'aiosmtpd'}; database: {args.database}")
        print(f"{'N':>8} {'unsigned msg/s':>15} {'signed msg/s':>13} {'signed/unsigned':>16}")
        for size in args.sizes:
            plain, signed = [], []
            for run in range(args.runs):
                plain.append(one_run(size, args.database, port, run, with_baseline=False)["digest_msgs_s"])
                signed.append(one_run(size, args.database, port, run, dkim=True, with_baseline=False)["digest_msgs_s"])
            unsigned_median, signed_median = statistics.median(plain), statistics.median(signed)
            print(f"{size:>8} {unsigned_median:>15.0f} {signed_median:>13.0f} {signed_median / unsigned_median:>16.2f}")
            print(f"{'':>8} runs unsigned: {', '.join(f'{r:.0f}' for r in plain)}; signed: "
                  f"{', '.join(f'{r:.0f}' for r in signed)}", flush=True)
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
