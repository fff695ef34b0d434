"""Schedules (cron): one interactor per operation, and the ports they need (ports.py)."""
