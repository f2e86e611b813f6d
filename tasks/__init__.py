"""Celery tasks: indexing, events and aggregation, one queue each (celeryconfig.py)."""
