"""Stage 7, authorization: the principal's role must grant the permission the method needs
(methods.py: producer enqueues, worker leases and settles, admin does everything)."""

from __future__ import annotations

from broker.entities.errors import PermissionDenied
from broker.interface.grpc.context import principal
from broker.interface.grpc.methods import info, is_open


class AuthorizationStage:
    async def __call__(self, call, proceed):
        method = call.method
        if not is_open(method):
            need = info(method).permission
            who = principal.get()
            if who is None or not who.may(need):
                role = who.role.value if who else "an unauthenticated caller"
                raise PermissionDenied(f"the {role} role may not call {method.rsplit('/', 1)[-1]} "
                                       f"(needs the {need.value} permission)")
        return await proceed(call)
