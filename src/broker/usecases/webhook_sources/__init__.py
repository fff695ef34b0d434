"""Inbound webhook sources managed at run time (AdminService), beside those of the sources file:
the rules of a source's fields (define.py), the port of their store (ports.py) and one
interactor per operation."""
