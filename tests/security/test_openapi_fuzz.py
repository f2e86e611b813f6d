"""Property-based requests generated from the whole OpenAPI document (schemathesis).

The fuzzer writes products, events and categories and starts admin tasks, so
it runs on a ClickHouse database, an index alias and a Redis database of its
own, dropped at the end.
"""

import json
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from config import load_settings
from tests.conftest import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"

EXAMPLES_PER_OPERATION = 30
# Generated requests per operation, written to tests/artifacts/fuzz.json for the record.
CALLS: Counter = Counter()


@pytest.fixture(scope="session")
def fuzz_app(storage_ready, session_token):
    from storage import api_keys, clients, migrations, search_index
    from storage.setup import init_storage
    from webapp import create_app

    from tests.conftest import claim_redis_db, release_redis_db

    owner = f"fuzz-{session_token}"
    redis_db = claim_redis_db(owner)
    settings = load_settings(
        debug=True,
        rate_limits_enabled=False,
        clickhouse_db=f"fuzz_{session_token}",
        elastic_index=f"fuzz_{session_token}_products",
        redis_url=f"redis://127.0.0.1:6380/{redis_db}",
    )
    init_storage(settings)
    app = create_app(settings)
    _key, token = api_keys.create_key("fuzz", list(api_keys.SCOPES))
    app.config["FUZZ_TOKEN"] = token
    yield app

    clients.configure(settings)
    search_index.drop_all(settings.elastic_index)
    migrations.drop_database(settings)
    release_redis_db(redis_db, owner)
    # Later tests of this process use the session's settings again.
    from tasks.celery_app import configure_celery

    clients.configure(storage_ready)
    configure_celery(storage_ready)


@pytest.fixture(scope="session")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_schema_conformance(case, fuzz_app):
    CALLS[f"{case.method} {case.path}"] += 1
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "fuzz.json").write_text(json.dumps({"requests": sum(CALLS.values()), "operations": len(CALLS),
                                                     "per_operation": dict(CALLS)}, indent=1))
    case.call_and_validate(
        headers={"X-API-Key": fuzz_app.config["FUZZ_TOKEN"]},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
