"""The composition root, the one place that builds the object graph.

build: settings and the ports' adapters in, interactors and servicers out (pure; the tests call
it with fakes). serve: the database, ports and loops of a running broker, started and stopped.
tools: `broker migrate` and `broker keys`, on the same database helpers.
"""

from broker.app.build import KeyAdmin, UseCases
from broker.app.serve import Broker, start
from broker.app.tools import key_admin, run_migrations

__all__ = ["Broker", "KeyAdmin", "UseCases", "key_admin", "run_migrations", "start"]
