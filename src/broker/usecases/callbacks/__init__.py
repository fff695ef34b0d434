"""Outbound callbacks: the subscriptions' interactors (one per operation), the delivery worker's
pass (deliver.py), and the ports they need (ports.py)."""
