"""The Sender port on aiohttp's client (aiohttp already serves the broker's HTTP port): one
session, a total timeout per request, no redirects, no proxies from the environment, and the
guard against server-side request forgery where it cannot be raced: in the resolver the
connection uses, so every address a name resolves to at delivery time is checked, not the URL
alone when it was given (a name may later point at 127.0.0.1)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from broker.entities.callback import is_public
from broker.usecases.callbacks.ports import Reply

ANSWER_BYTES = 200  # of a refusing receiver's answer, kept in the attempt's error


class Refused(OSError):
    """The target resolves to an address deliveries may not go to."""


def check_address(host: str, address: str) -> None:
    if not is_public(ipaddress.ip_address(address.split("%", 1)[0])):
        raise Refused(f"refused: {host} is {address}, a private, loopback or link-local address "
                      "(BROKER_CALLBACK_ALLOW_PRIVATE allows it)")


class GuardedResolver(AbstractResolver):
    """Resolves as aiohttp does, then refuses the name if any of its addresses is not public."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        found = await self._inner.resolve(host, port, family)
        for item in found:
            check_address(host, item["host"])
        return found

    async def close(self) -> None:
        await self._inner.close()


class HttpSender:
    """Sender over HTTP(S). `allow_private` (BROKER_CALLBACK_ALLOW_PRIVATE) lifts the guard."""

    def __init__(self, allow_private: bool = False) -> None:
        self._allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=None if self._allow_private else GuardedResolver(),
                                             limit=0, ttl_dns_cache=10)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Reply:
        try:
            if not self._allow_private:
                _check_literal(url)
            async with self._client().post(url, data=body, headers=dict(headers), allow_redirects=False,
                                           timeout=aiohttp.ClientTimeout(total=timeout)) as answer:
                text = (await answer.content.read(ANSWER_BYTES)).decode("utf-8", "replace")
                return Reply(answer.status, text)
        except Refused as exc:
            return Reply(None, str(exc), refused=True)
        except (asyncio.TimeoutError, TimeoutError):
            return Reply(None, f"timed out after {timeout:g}s")
        except aiohttp.ClientError as exc:
            refused = _refusal(exc)
            if refused is not None:
                return Reply(None, str(refused), refused=True)
            return Reply(None, f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _check_literal(url: str) -> None:
    """aiohttp does not resolve an address written in the URL: check it here."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    check_address(host, host)


def _refusal(exc: BaseException | None) -> Refused | None:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, Refused):
            return exc
        exc = getattr(exc, "os_error", None) or exc.__cause__ or exc.__context__
        seen += 1
    return None
