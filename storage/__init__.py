"""The only package that talks to ClickHouse, Elasticsearch and Redis.

webapp/ and tasks/ call the functions here and see the project's own
exceptions (storage.errors), never the drivers' types.
"""
