"""The dashboard's picture of the workers, their queues' health and their latencies (issue #16)."""
