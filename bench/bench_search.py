"""Benchmark GET /api/v1/search under gunicorn against the same searches sent straight to Elasticsearch.

Loads the Best Buy catalog (3,287 products with descriptions) into an index
alias of its own. Starts gunicorn on a free loopback port and a private Redis
for the search events. Then sends real shopper queries (queries.csv, drawn at
random weighted by their popularity) at several concurrency levels: once to
the API, once as the very same search body to Elasticsearch with the Python
client. Reports p50, p99 and throughput for both and the ratio of medians,
then the same for suggest calls, one at a time.

    .venv/bin/python bench/bench_search.py [--requests 400] [--levels 1,4,8]

Everything it creates (index, ClickHouse database, Redis instance, gunicorn)
is removed at the end. It needs the local services (scripts/services.sh start).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import urllib3
from elasticsearch import Elasticsearch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import load_settings  # noqa: E402
from storage import clients, migrations, search, search_index  # noqa: E402
from storage.search import SearchRequest, build_search_body, build_suggest_body  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
PRODUCTS = DATASETS / "bestbuy-products-typesense" / "products.jsonl"
QUERIES = DATASETS / "algolia-bestbuy-query-suggestions" / "queries.csv"
SERVICES = ROOT / "scripts" / "services.sh"

# The private Redis of the search area, so the events of the benchmark never
# mix with a test session's.
REDIS_PORT = 6392
REDIS_STATE = ROOT / ".local" / "private" / "bench-search-redis"
WARMUP_REQUESTS = 50
# Each level alternates between the targets this many times, so a burst of
# load from other processes on the machine falls on both alike.
ROUNDS = 6


def load_catalog(alias: str) -> int:
    """Index the Best Buy products with the service's own document builder."""
    documents = []
    with open(PRODUCTS, encoding="utf-8") as source:
        for line in source:
            row = json.loads(line)
            if not row["sku"]:
                continue
            path = [{"id": hashlib.sha1(" > ".join(row["categories"][:depth + 1]).encode()).hexdigest()[:12],
                     "name": name}
                    for depth, name in enumerate(row["categories"])]
            product = {"id": row["sku"], "name": row["name"], "description": row["description"],
                       "brand": row["brand"], "category_id": path[-1]["id"] if path else "", "price": row["price"],
                       "currency": "USD", "in_stock": True, "popularity": float(row["popularity"]), "version": 1}
            documents.append(search_index.build_document(product, path))
    search_index.ensure_index(alias)
    return search.load_documents(alias, documents)


def weighted_queries(count: int, seed: int) -> list[str]:
    """Draw `count` real queries at random, each as often as its popularity makes it."""
    with open(QUERIES, encoding="utf-8", newline="") as source:
        rows = [row for row in csv.DictReader(source) if int(row["popularity"]) > 0]
    chooser = random.Random(seed)
    return chooser.choices([row["query"] for row in rows], weights=[int(row["popularity"]) for row in rows], k=count)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null",
             "wsgi:app"],
            cwd=ROOT, env={**env, "BIND": f"127.0.0.1:{port}"}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log_path}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not respond to /health within 60s; see {log_path}")


def time_requests(send, queries: list[str], concurrency: int) -> tuple[list[float], float]:
    """Send every query once with `concurrency` threads; return the latencies in ms and the wall time in s."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(text: str) -> None:
        started = time.perf_counter()
        send(text)
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, queries))
    return latencies, time.perf_counter() - started


def summarize(latencies: list[float], wall: float) -> dict[str, float]:
    latencies = sorted(latencies)
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "per_second": len(latencies) / wall,
    }


def run_level(send, queries: list[str], concurrency: int) -> dict[str, float]:
    return summarize(*time_requests(send, queries, concurrency))


def compare(targets: dict, queries: list[str], concurrency: int, rounds: int = ROUNDS) -> dict[str, dict]:
    """Time each target on the same queries, alternating in rounds so both see the same background load."""
    latencies = {name: [] for name in targets}
    walls = {name: 0.0 for name in targets}
    size = -(-len(queries) // rounds)
    for start in range(0, len(queries), size):
        for name, send in targets.items():
            measured, wall = time_requests(send, queries[start:start + size], concurrency)
            latencies[name] += measured
            walls[name] += wall
    return {name: summarize(latencies[name], walls[name]) for name in targets}


def api_sender(pool: urllib3.HTTPConnectionPool, path: str):
    """Send GET requests with urllib3, the HTTP library under the Elasticsearch client, so both
    targets pay the same client-side cost."""

    def send(text: str) -> None:
        response = pool.request("GET", path, fields={"q": text})
        if response.status != 200:
            raise RuntimeError(f"{path} returned status {response.status} for {text!r}: {response.data[:200]!r}")

    return send


def direct_suggest_sender(es: Elasticsearch, alias: str):
    def send(prefix: str) -> None:
        es.search(index=alias, body=build_suggest_body(prefix, 5))

    return send


def direct_sender(es: Elasticsearch, alias: str):
    def send(text: str) -> None:
        es.search(index=alias, body=build_search_body(SearchRequest(q=text)))

    return send


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="searches per concurrency level and target")
    parser.add_argument("--levels", default="1,4,8", help="concurrency levels, comma-separated")
    parser.add_argument("--seed", type=int, default=7, help="seed of the weighted query draw")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    token = f"{os.getpid()}"
    settings = load_settings(clickhouse_db=f"bench_search_{token}", elastic_index=f"bench_search_{token}_products",
                             redis_url=f"redis://127.0.0.1:{REDIS_PORT}/0")
    service_env = {
        **os.environ, "PYTHONPATH": str(ROOT), "CLICKHOUSE_DB": settings.clickhouse_db,
        "ELASTIC_INDEX": settings.elastic_index, "REDIS_URL": settings.redis_dsn,
        # The default search limit (1,200 a minute per address) would turn the run into 429s.
        "RATE_LIMITS_ENABLED": "false",
    }
    redis_env = {**os.environ, "LOCAL_STATE_DIR": str(REDIS_STATE), "LOCAL_REDIS_PORT": str(REDIS_PORT)}
    subprocess.run([str(SERVICES), "start", "redis"], check=True, cwd=ROOT, env=redis_env)
    clients.configure(settings)
    gunicorn = None
    try:
        indexed = load_catalog(settings.elastic_index)
        queries = weighted_queries(args.requests + WARMUP_REQUESTS, args.seed)
        port = free_port()
        gunicorn = start_gunicorn(service_env, port, ROOT / ".local" / "log" / "bench-search-gunicorn.log")
        es = Elasticsearch(settings.elastic_url, request_timeout=30, connections_per_node=max(levels) + 2)

        pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=max(levels) + 2, timeout=30.0)
        api, direct = api_sender(pool, "/api/v1/search"), direct_sender(es, settings.elastic_index)
        measured = queries[WARMUP_REQUESTS:]
        # Both targets see every query once before timing, so neither profits
        # from caches that the other one warmed.
        for send in (api, direct):
            run_level(send, queries, 4)

        results = []
        for level in levels:
            timed = compare({"direct": direct, "api": api}, measured, level)
            results.append({"concurrency": level, **timed,
                            "median_ratio": timed["api"]["p50_ms"] / timed["direct"]["p50_ms"]})
        # Keystrokes: the first 2 to 5 characters of each query, one at a time.
        prefixes = [text[:length] for text in measured[:100] for length in range(2, 6) if len(text) >= length]
        suggest = compare({"direct": direct_suggest_sender(es, settings.elastic_index),
                           "api": api_sender(pool, "/api/v1/search/suggest")}, prefixes, 1)
        # The floor of any request through gunicorn and Flask, for reading the ratios.
        health = run_level(api_sender(pool, "/health"), measured[:200], 1)
        report(results, indexed, len(measured), len(set(measured)))
        report_suggest(suggest, len(prefixes))
        sys.stdout.write(f"GET /health through the same stack, one at a time: p50 {health['p50_ms']:.2f} ms\n")
        if args.json:
            args.json.write_text(json.dumps({"search": results, "suggest": suggest, "health": health}, indent=2))
    finally:
        if gunicorn is not None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            gunicorn.wait(timeout=30)
        search_index.drop_all(settings.elastic_index)
        migrations.drop_database(settings)
        subprocess.run([str(SERVICES), "stop", "redis"], check=True, cwd=ROOT, env=redis_env)
        shutil.rmtree(REDIS_STATE, ignore_errors=True)


def report(results: list[dict], indexed: int, requests_per_level: int, distinct: int) -> None:
    lines = [
        f"catalog: {indexed} products; {requests_per_level} searches per level and target "
        f"({distinct} distinct queries, weighted by popularity); {os.cpu_count()} cores",
        "| concurrency | direct p50 ms | direct p99 ms | direct req/s | API p50 ms | API p99 ms | API req/s "
        "| API/direct median |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results:
        direct, api = row["direct"], row["api"]
        lines.append(
            f"| {row['concurrency']} | {direct['p50_ms']:.1f} | {direct['p99_ms']:.1f} | {direct['per_second']:.0f} "
            f"| {api['p50_ms']:.1f} | {api['p99_ms']:.1f} | {api['per_second']:.0f} | {row['median_ratio']:.2f} |"
        )
    sys.stdout.write("\n".join(lines) + "\n")


def report_suggest(suggest: dict, count: int) -> None:
    direct, api = suggest["direct"], suggest["api"]
    sys.stdout.write(
        f"suggest, {count} prefixes one at a time: direct p50 {direct['p50_ms']:.1f} ms, p99 {direct['p99_ms']:.1f} ms; "
        f"API p50 {api['p50_ms']:.1f} ms, p99 {api['p99_ms']:.1f} ms; "
        f"API/direct median {api['p50_ms'] / direct['p50_ms']:.2f}\n"
    )


if __name__ == "__main__":
    main()
