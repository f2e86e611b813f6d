"""Command line of the replayer: `python -m replay run|backfill|send --help`."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import requests
from tqdm import tqdm

from replay.queries import DEFAULT_DATASETS, load_queries
from replay.traffic import Rates, Replayer, backfill_events

BATCH = 1000  # the API's maximum events per request


@click.group()
def cli() -> None:
    """Replay realistic shopper traffic against a running shopsearch API."""


@cli.command()
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True, help="The API to drive.")
@click.option("--api-key", envvar="REPLAY_API_KEY", default="", help="Token with the ingest scope (or REPLAY_API_KEY).")
@click.option("--search-key", envvar="REPLAY_SEARCH_KEY", default="", help="Token for search, if search needs one.")
@click.option("--datasets", type=click.Path(path_type=Path), default=DEFAULT_DATASETS, show_default=True,
              help="Folder with the query files (algolia-bestbuy-query-suggestions, amazon-esci-judgments).")
@click.option("--sessions", default=200, show_default=True, help="Shopper sessions to play.")
@click.option("--seed", default=42, show_default=True, help="Random seed; the same seed replays the same traffic.")
@click.option("--rate", default=50.0, show_default=True, help="Maximum requests per second (0: no limit).")
@click.option("--concurrency", default=4, show_default=True, help="Sessions played at the same time.")
@click.option("--click-rate", default=0.45, show_default=True, help="Chance of clicking the first result.")
@click.option("--cart-rate", default=0.25, show_default=True, help="Chance that a clicked product is added to the cart.")
@click.option("--purchase-rate", default=0.4, show_default=True, help="Chance that a product in the cart is bought.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), help="Also write the report as JSON here.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr.")
def run(base_url, api_key, search_key, datasets, sessions, seed, rate, concurrency, click_rate, cart_rate,
        purchase_rate, report_path, progress) -> None:
    """Play shopper sessions: searches with real queries, pages, filters, clicks, carts, purchases."""
    try:
        queries = load_queries(datasets)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    rates = Rates(click=click_rate, add_to_cart=cart_rate, purchase=purchase_rate)
    replayer = Replayer(base_url, queries, api_key=api_key, search_key=search_key, rates=rates, seed=seed,
                        per_second=rate)

    with ThreadPoolExecutor(max_workers=concurrency) as pool, tqdm(total=sessions, unit="session", disable=not progress) as bar:
        https = [requests.Session() for _ in range(concurrency)]

        def play(number: int) -> None:
            replayer.run_session(number, https[number % concurrency])
            bar.update(1)

        list(pool.map(play, range(sessions)))

    report = replayer.report.as_dict()
    text = json.dumps(report, indent=2)
    click.echo(text)
    if report_path:
        report_path.write_text(text + "\n", encoding="utf-8")
    if report["search_errors"] or report["event_errors"]:
        click.echo(f"{report['search_errors']} searches and {report['event_errors']} events failed", err=True)
        sys.exit(1)


@cli.command()
@click.option("--products", "products_path", type=click.Path(exists=True, path_type=Path),
              help="JSON Lines file of products with id, price and currency; without it, products are read "
                   "from the API at --base-url.")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--max-products", default=2000, show_default=True, help="Products read from the API.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="File of events to write (JSON Lines).")
@click.option("--days", default=14, show_default=True, help="Spread the events over this many past days.")
@click.option("--sessions", default=1000, show_default=True, help="Sessions to generate.")
@click.option("--seed", default=42, show_default=True)
def backfill(products_path, base_url, max_products, out, days, sessions, seed) -> None:
    """Write a file of timestamped past events, for `send`."""
    if products_path:
        lines = products_path.read_text(encoding="utf-8").splitlines()
        products = [json.loads(line) for line in lines if line.strip()]
    else:
        products = _products_from_api(base_url, max_products)
    if not products:
        raise click.ClickException("no products to build events for: import a catalog first")
    events = backfill_events(products, days=days, sessions=sessions, seed=seed)
    with out.open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")
    click.echo(f"wrote {len(events)} events over {days} days to {out}")


def _products_from_api(base_url: str, limit: int) -> list[dict]:
    http = requests.Session()
    products: list[dict] = []
    page = 1
    while len(products) < limit:
        response = http.get(f"{base_url.rstrip('/')}/api/v1/products", params={"page": page, "page_size": 100},
                            timeout=30)
        if response.status_code != 200:
            raise click.ClickException(f"GET /api/v1/products failed with {response.status_code}: {response.text[:300]}")
        batch = response.json()
        if not batch:
            break
        products.extend({"id": p["id"], "price": p.get("price"), "currency": p.get("currency")} for p in batch)
        page += 1
    return products[:limit]


@cli.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--api-key", envvar="REPLAY_API_KEY", default="", help="Token with the ingest scope (or REPLAY_API_KEY).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr.")
def send(path, base_url, api_key, progress) -> None:
    """POST a JSON Lines file of events to /api/v1/events in batches of 1,000."""
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    http = requests.Session()
    headers = {"X-API-Key": api_key} if api_key else {}
    accepted = 0
    for start in tqdm(range(0, len(events), BATCH), unit="batch", disable=not progress):
        batch = events[start:start + BATCH]
        response = http.post(f"{base_url.rstrip('/')}/api/v1/events", json={"events": batch}, headers=headers,
                             timeout=30)
        if response.status_code != 202:
            raise click.ClickException(f"batch at line {start + 1} got {response.status_code}: {response.text[:500]}")
        accepted += len(batch)
    click.echo(f"sent {accepted} events")


if __name__ == "__main__":
    cli()
