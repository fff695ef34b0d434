"""The benchmark harness: `python -m bench` (or `make bench`, `make bench-quick`).

Starts its own broker, workers and peers against fresh databases on the configured
PostgreSQL, runs the scenarios, prints a table and writes bench/results/<timestamp>.json.
"""
