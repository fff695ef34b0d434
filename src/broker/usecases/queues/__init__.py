"""Queue controls (flow control): one interactor per operation, and the port they need (ports.py)."""
