"""The analytics dashboard: one server-rendered page whose charts read the public analytics API."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

blp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
                static_url_path="/dashboard/static")

# Offered in the time-zone picker, besides the browser's own zone.
TIME_ZONES = (
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Chicago",
    "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney",
)


@blp.route("/dashboard")
def dashboard():
    settings = current_app.config["SETTINGS"]
    return render_template("dashboard.html", app_name=settings.app_name, time_zones=TIME_ZONES,
                           auth_enabled=settings.auth_enabled)
