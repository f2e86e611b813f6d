"""API keys with scopes and rate limits, enforced for every route in one place.

The rules live in ROUTE_RULES, keyed by path and method, so a new blueprint is
protected without decorating its views, and the OpenAPI document is marked
from the same table.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from flask import Flask, abort, g, request
from flask_limiter import ApplicationLimit, Limiter

from config import Settings
from storage import api_keys
from storage.errors import StorageUnavailable

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class RouteRule:
    pattern: re.Pattern[str]
    methods: frozenset[str] | None  # None: every method
    group: str  # rate-limit group and, unless public, the scope required


# First match wins. Paths not listed (health, docs, assets, dashboard page) are public.
ROUTE_RULES = (
    RouteRule(re.compile(r"^/api/v1/events(/|$)"), frozenset({"POST"}), "ingest"),
    RouteRule(re.compile(r"^/api/v1/(products|categories)(/|$)"), frozenset(_WRITE_METHODS), "catalog"),
    RouteRule(re.compile(r"^/api/v1/(products|categories)(/|$)"), None, "search"),
    RouteRule(re.compile(r"^/api/v1/search(/|$)"), None, "search"),
    RouteRule(re.compile(r"^/api/v1/analytics(/|$)"), None, "analytics"),
    RouteRule(re.compile(r"^/api/v1/(admin|tasks)(/|$)"), None, "admin"),
)

GROUPS = ("ingest", "catalog", "search", "analytics", "admin")


def route_group(path: str, method: str) -> str | None:
    for rule in ROUTE_RULES:
        if rule.pattern.match(path) and (rule.methods is None or method in rule.methods):
            return rule.group
    return None


def required_scope(group: str | None, settings: Settings) -> str | None:
    """Return the scope a request of this group needs, or None when it is public."""
    if group is None:
        return None
    if group == "search":
        return "search" if settings.search_requires_key else None
    return group


def _check_api_key(settings: Settings) -> None:
    group = route_group(request.path, request.method)
    g.rate_group = group
    token = request.headers.get(API_KEY_HEADER, "")
    scope = required_scope(group, settings) if settings.auth_enabled else None

    if scope is None:
        # A public route still rate-limits a valid key by key, but must keep
        # responding when Redis, where keys live, is down.
        try:
            g.api_key = api_keys.verify_token(token) if token else None
        except StorageUnavailable:
            g.api_key = None
        return

    if not token:
        abort(401, description=f"missing API key: send it in the {API_KEY_HEADER} header "
                               f"(this endpoint needs the {scope!r} scope)")
    key = g.api_key = api_keys.verify_token(token)
    if key is None:
        logger.info("api_key_rejected path=%s reason=unknown_or_revoked", request.path)
        abort(401, description="invalid or revoked API key")
    if scope not in key.scopes and "admin" not in key.scopes:
        logger.info("api_key_forbidden key_id=%s scope=%s path=%s", key.key_id, scope, request.path)
        abort(403, description=f"this API key lacks the {scope!r} scope")


def _rate_key() -> str:
    # Per key when one was sent and valid, otherwise per client address.
    key = g.get("api_key")
    return f"key:{key.key_id}" if key is not None else f"addr:{request.remote_addr}"


def _drop_retry_after_unless_rejected(response):
    # Flask-Limiter sets Retry-After on every response; it means "come back
    # later" only on a 429 or a 503.
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def init_security(app: Flask, settings: Settings) -> None:
    app.before_request(lambda: _check_api_key(settings))
    # Flask runs after_request functions in reverse order of registration, so
    # this one, registered before the limiter's, runs after it.
    app.after_request(_drop_retry_after_unless_rejected)

    def limit_for(group: str):
        configured = getattr(settings, f"rate_limit_{group}")
        return lambda: configured if g.get("rate_group") == group else ""

    limiter = Limiter(
        _rate_key,
        app=app,
        storage_uri=settings.redis_dsn,
        storage_options={"socket_timeout": settings.redis_timeout, "socket_connect_timeout": settings.redis_timeout},
        strategy="moving-window",
        headers_enabled=True,
        enabled=settings.rate_limits_enabled,
        # Redis down must not take search down with it: limits fail open.
        swallow_errors=True,
        key_prefix=f"ratelimit:{settings.app_name}",
        # Flask-Limiter skips requests without an endpoint; naming them keeps
        # requests for unknown paths (a scanner's) inside their group's limit.
        request_identifier=lambda: request.endpoint or "unrouted",
        application_limits=[ApplicationLimit(limit_for(group), scope=group) for group in GROUPS],
    )
    app.extensions["shopsearch_limiter"] = limiter


def document_security(api) -> None:
    """Declare the API-key scheme and mark each protected operation in the OpenAPI document."""
    api.spec.components.security_scheme(
        "ApiKeyAuth", {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
    )
    settings: Settings = api._app.config["SETTINGS"]
    for path, operations in api.spec._paths.items():
        flask_path = re.sub(r"\{[^}]+\}", "x", path)
        for method, operation in operations.items():
            if method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                continue
            scope = required_scope(route_group(flask_path, method.upper()), settings)
            if scope is None or not settings.auth_enabled:
                continue
            operation["security"] = [{"ApiKeyAuth": []}]
            operation.setdefault("description", "")
            operation["description"] = (operation["description"] + f"\n\nNeeds an API key with the `{scope}` scope.").strip()
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", {"description": "Missing or invalid API key"})
            responses.setdefault("403", {"description": f"The API key lacks the {scope} scope"})
