"""Benchmark event ingestion end to end against inserting the same rows straight into ClickHouse.

Starts a private Redis and a private ClickHouse, gunicorn (the project's
worker class, without the access log) and a Celery worker on the events queue.
Then it sends events built from real shop data for a fixed time: views and
carts from the OTTO sessions, purchases with their prices from UCI Online
Retail. It sends them in three ways:
  - batched: requests of 1,000 events from several client threads,
  - single: one event per request,
  - both again from one client, for the latency of a request without queueing.
The end-to-end rate is the events accepted with 202 divided by the time from
the first request to the moment the last of them is counted in ClickHouse.
The baseline inserts the very same rows with clickhouse-driver from one
process, in batches of settings.event_batch_size, into a copy of the table.
Each phase runs several rounds; medians are reported.

    .venv/bin/python bench/bench_events.py [--rounds 3] [--seconds 15] [--clients 4]

Everything it starts is stopped and its state removed at the end.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import load_settings  # noqa: E402
from storage import event_buffer, migrations  # noqa: E402
from storage.clickhouse import ClickHouse  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
OTTO_EVENTS = DATASETS / "otto-sessions-sample" / "events.csv"
UCI_RETAIL = DATASETS / "uci-online-retail-sample" / "online_retail_sample.csv"
SERVICES = ROOT / "scripts" / "services.sh"

# The private ports of the events area.
REDIS_PORT = 6393
CLICKHOUSE_PORT = 9042
CLICKHOUSE_HTTP_PORT = 8164
WEB_PORT = 8165
STATE_DIR = ROOT / ".local" / "private" / "bench-events"
DATABASE = "bench_events"
BATCH_EVENTS = 1000


def load_templates() -> list[dict]:
    """Return event templates from the OTTO sessions and the UCI purchases (ids and types kept)."""
    templates = []
    otto_types = {"clicks": "view", "carts": "add_to_cart"}
    with open(OTTO_EVENTS, encoding="utf-8") as source:
        for row in csv.DictReader(source):
            if row["type"] in otto_types:
                event = {"type": otto_types[row["type"]], "product_id": row["aid"], "session_id": f"otto-{row['session']}"}
                if event["type"] == "add_to_cart":
                    event["quantity"] = 1
                templates.append(event)
    with open(UCI_RETAIL, encoding="utf-8") as source:
        for row in csv.DictReader(source):
            quantity, price = int(row["Quantity"]), Decimal(row["UnitPrice"])
            if quantity <= 0 or price <= 0 or row["CustomerID"] == "NA":
                continue
            templates.append({
                "type": "purchase", "product_id": row["StockCode"], "user_id": row["CustomerID"],
                "session_id": f"uci-{row['InvoiceNo']}", "quantity": quantity, "price": str(price),
                "currency": "GBP", "order_id": row["InvoiceNo"],
            })
    return templates


class EventFactory:
    """Events from the templates in turn, each with a new event_id and the current time."""

    def __init__(self, templates: list[dict]):
        self.templates = templates
        self.position = 0
        self.run = uuid.uuid4().hex[:8]
        self.serial = 0

    def take(self, count: int) -> list[dict]:
        now = datetime.now(timezone.utc).isoformat()
        events = []
        for _ in range(count):
            template = self.templates[self.position % len(self.templates)]
            self.position += 1
            self.serial += 1
            events.append(template | {"event_id": f"{self.run}-{self.serial}", "timestamp": now})
        return events


@dataclass
class Phase:
    accepted: int = 0
    rejected: int = 0
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    sent_until: float = 0.0
    stored_at: float = 0.0


def run_services(command: str, *services: str) -> None:
    env = dict(os.environ, LOCAL_STATE_DIR=str(STATE_DIR), LOCAL_REDIS_PORT=str(REDIS_PORT),
               LOCAL_CLICKHOUSE_PORT=str(CLICKHOUSE_PORT), LOCAL_CLICKHOUSE_HTTP_PORT=str(CLICKHOUSE_HTTP_PORT),
               LOCAL_ES_PORT="9241")
    for service in services:
        subprocess.run([str(SERVICES), command, service], check=True, cwd=ROOT, env=env)


def start_processes(env: dict) -> list[subprocess.Popen]:
    log_dir = ROOT / ".local" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "/dev/null", "--bind", f"127.0.0.1:{WEB_PORT}", "--workers", "2",
         "--worker-class", "gthread", "--threads", "4", "--preload", "wsgi:app"],
        cwd=ROOT, env=env, stdout=open(log_dir / "bench-events-web.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker", "-Q", "events", "--concurrency", "2",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=open(log_dir / "bench-events-worker.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return [web, worker]
        except OSError:
            pass
        time.sleep(0.3)
    stop_processes([web, worker])
    raise RuntimeError("gunicorn did not respond within 60 s; see .local/log/bench-events-web.log")


def stop_processes(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def stored_count(client: ClickHouse, table: str = "events") -> int:
    (count,), = client.execute(f"SELECT count() FROM {table}", tag="bench")
    return count


def send_phase(bodies: list[bytes], clients_count: int, seconds: float) -> Phase:
    """Send prepared bodies from several threads for at most `seconds`; record each request."""
    phase = Phase()
    lock = threading.Lock()
    next_body = iter(bodies)
    deadline = time.monotonic() + seconds

    def client_loop() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=30)
        headers = {"Content-Type": "application/json"}
        while time.monotonic() < deadline:
            with lock:
                body = next(next_body, None)
            if body is None:
                return
            started = time.perf_counter()
            connection.request("POST", "/api/v1/events", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                phase.latencies.append(elapsed)
                if response.status == 202:
                    phase.accepted += json.loads(payload)["accepted"]
                else:
                    phase.rejected += 1

    phase.started = time.monotonic()
    threads = [threading.Thread(target=client_loop) for _ in range(clients_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.sent_until = time.monotonic()
    return phase


def wait_stored(client: ClickHouse, expected: int, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored_count(client) >= expected:
            return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError(f"only {stored_count(client)} of {expected} events stored after {timeout} s")


def run_pipeline_round(factory: EventFactory, client: ClickHouse, per_request: int, clients_count: int,
                       seconds: float, rate_guess: float) -> Phase:
    requests = int(rate_guess * seconds / per_request) + clients_count
    bodies = []
    for _ in range(requests):
        events = factory.take(per_request)
        payload = {"events": events} if per_request > 1 else events[0]
        bodies.append(json.dumps(payload).encode())

    before = stored_count(client)
    phase = send_phase(bodies, clients_count, seconds)
    phase.stored_at = wait_stored(client, before + phase.accepted)
    return phase


def run_direct_round(factory: EventFactory, client: ClickHouse, rows_count: int, batch_size: int) -> float:
    """Insert rows_count rows built as the API builds them, straight into events_direct; return rows/s."""
    from webapp.events.fast_validation import load_events
    from webapp.events.ingest import _row

    now = datetime.now(timezone.utc).replace(microsecond=0)
    events = load_events(factory.take(rows_count), now)
    columns = list(event_buffer.COLUMNS["interaction"])
    rows = [[_row(event, now).get(name, default) for name, default in event_buffer.COLUMNS["interaction"].items()]
            for event in events]

    started = time.perf_counter()
    for first in range(0, len(rows), batch_size):
        client.insert("events_direct", columns, rows[first:first + batch_size], tag="bench.direct")
    return rows_count / (time.perf_counter() - started)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summarize(name: str, phases: list[Phase]) -> dict:
    rates = [p.accepted / (p.stored_at - p.started) for p in phases]
    accept_rates = [p.accepted / (p.sent_until - p.started) for p in phases]
    latencies = [value for p in phases for value in p.latencies]
    return {
        "phase": name,
        "events_per_round": [p.accepted for p in phases],
        "rejected_requests": sum(p.rejected for p in phases),
        "end_to_end_events_per_s_median": round(statistics.median(rates)),
        "accepted_events_per_s_median": round(statistics.median(accept_rates)),
        "requests": len(latencies),
        "latency_ms_p50": round(percentile(latencies, 0.50) * 1000, 2),
        "latency_ms_p99": round(percentile(latencies, 0.99) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per phase (default 3)")
    parser.add_argument("--seconds", type=float, default=15, help="sending time per round, in seconds (default 15)")
    parser.add_argument("--clients", type=int, default=4, help="client threads sending batches (default 4)")
    parser.add_argument("--single-clients", type=int, default=8, help="client threads sending single events (default 8)")
    args = parser.parse_args()

    if not OTTO_EVENTS.exists() or not UCI_RETAIL.exists():
        sys.exit(f"datasets missing under {DATASETS}; see its README.md")
    factory = EventFactory(load_templates())

    run_services("start", "redis", "clickhouse")
    settings = load_settings(redis_url=f"redis://127.0.0.1:{REDIS_PORT}/0", clickhouse_port=CLICKHOUSE_PORT,
                             clickhouse_db=DATABASE)
    migrations.ensure_database(settings, timeout=30)
    client = ClickHouse(settings, timeout=300)
    migrations.apply_migrations(client)
    client.execute("CREATE TABLE IF NOT EXISTS events_direct AS events", tag="bench")

    env = dict(os.environ, PYTHONPATH=str(ROOT), REDIS_URL=settings.redis_dsn, CLICKHOUSE_PORT=str(CLICKHOUSE_PORT),
               CLICKHOUSE_DB=DATABASE, AUTH_ENABLED="false", RATE_LIMITS_ENABLED="false", LOG_LEVEL="WARNING")
    processes = start_processes(env)
    try:
        direct = [run_direct_round(factory, client, 200_000, settings.event_batch_size) for _ in range(args.rounds)]
        batched = [run_pipeline_round(factory, client, BATCH_EVENTS, args.clients, args.seconds, 70_000)
                   for _ in range(args.rounds)]
        single = [run_pipeline_round(factory, client, 1, args.single_clients, args.seconds, 3_000)
                  for _ in range(args.rounds)]
        # One client at a time: the latency of a request on an otherwise idle service.
        light_batched = [run_pipeline_round(factory, client, BATCH_EVENTS, 1, args.seconds / 3, 40_000)]
        light_single = [run_pipeline_round(factory, client, 1, 1, args.seconds / 3, 3_000)]
    finally:
        stop_processes(processes)
        client.disconnect()
        run_services("stop", "clickhouse", "redis")
        shutil.rmtree(STATE_DIR, ignore_errors=True)

    direct_median = statistics.median(direct)
    report = {
        "machine_cores": os.cpu_count(),
        "batch_size": settings.event_batch_size,
        "batch_max_age_s": settings.event_batch_max_age,
        "direct_insert_rows_per_s_median": round(direct_median),
        "batched": summarize(f"{BATCH_EVENTS} events a request, {args.clients} clients", batched),
        "single": summarize(f"1 event a request, {args.single_clients} clients", single),
        "one_client_batched": summarize(f"{BATCH_EVENTS} events a request, 1 client", light_batched),
        "one_client_single": summarize("1 event a request, 1 client", light_single),
    }
    for name in ("batched", "single"):
        report[name]["ratio_to_direct"] = round(report[name]["end_to_end_events_per_s_median"] / direct_median, 3)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
