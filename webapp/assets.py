"""Serve the browser assets installed from npm (Swagger UI, ReDoc, charts) from the app itself."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

NODE_MODULES = Path(__file__).parent / "assets" / "node_modules"

# Only these packages are served, not the whole node_modules tree.
SERVED_PACKAGES = {"swagger-ui-dist", "redoc", "echarts"}

blp = Blueprint("assets", __name__)


@blp.route("/assets/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str):
    if package not in SERVED_PACKAGES:
        abort(404)
    root = NODE_MODULES / package
    if not root.is_dir():
        abort(404, description=f"{package} is not installed; run scripts/setup.sh")
    return send_from_directory(root, filename, max_age=86400)
