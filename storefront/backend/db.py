"""The PostgreSQL pool, kept alive across outages.

The process must start and answer /health even when the database is not there yet (a
wrong DATABASE_HOST shows as a pod that runs but is not Ready), so the first connection
is made by a background task that retries with back-off and logs every failure in words
a learner can search for. Later outages need no code: asyncpg's pool replaces a dead
connection on the next acquire; we only turn the errors into 503s and log the outage once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator

import asyncpg

from storefront.backend.schema import migrate
from storefront.config import Settings
from storefront.httpkit import ApiError

log = logging.getLogger("storefront.db")

POOL_MAX = 10
# What "the database is not there" looks like from asyncpg, as opposed to a bad query.
UNAVAILABLE = (
    OSError,  # refused, unreachable, getaddrinfo failures (socket.gaierror)
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    asyncpg.exceptions.InternalClientError,  # a connection caught mid-operation by a crash
)


def describe(exc: BaseException, host: str) -> str:
    """One line for the log: the cause a learner can act on, never the password."""
    if isinstance(exc, socket.gaierror):
        return f"getaddrinfo failed for {host} (ENOTFOUND)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (ECONNREFUSED): is PostgreSQL running and its Service ready?"
    if isinstance(exc, TimeoutError):
        return "timed out (ETIMEDOUT)"
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return f"authentication failed: {exc} (check the Secret's password)"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"{exc} (check DATABASE_NAME)"
    return f"{type(exc).__name__}: {exc}"


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.where = f"{settings.database_host}:{settings.database_port}"
        self._task: asyncio.Task | None = None
        self._healthy = True

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_forever(), name="postgres-connect")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.pool:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 5)

    async def wait_connected(self, timeout: float) -> bool:
        if self._task:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
        return self.pool is not None

    async def _connect_forever(self) -> None:
        delay = 0.5
        s = self.settings
        while True:
            pool = await asyncpg.create_pool(
                host=s.database_host, port=s.database_port, user=s.database_user,
                password=s.database_password or None, database=s.database_name,
                min_size=0, max_size=POOL_MAX, timeout=5, command_timeout=15,
                max_inactive_connection_lifetime=300,
            )
            try:
                async with pool.acquire() as conn:
                    seeded = await migrate(conn)
            except Exception as exc:  # any failure: log why, back off, try again
                pool.terminate()
                log.error("Cannot connect to Postgres at %s: %s; retrying in %.1f s",
                          self.where, describe(exc, s.database_host), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.pool = pool
            log.info("Connected to Postgres at %s", self.where)
            if seeded:
                log.info("Seeded the catalogue with %d products", seeded)
            return

    # -- use ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; an unavailable database becomes a 503, logged once per outage."""
        if self.pool is None:
            raise ApiError(503, f"database not connected yet ({self.where})")
        try:
            async with self.pool.acquire(timeout=10) as conn:
                yield conn
        except UNAVAILABLE as exc:
            if self._healthy:
                self._healthy = False
                log.error("Lost Postgres at %s: %s", self.where,
                          describe(exc, self.settings.database_host))
            raise ApiError(503, f"database unavailable ({self.where})") from None
        else:
            self.mark_up()

    def mark_up(self) -> None:
        if not self._healthy:
            self._healthy = True
            log.info("Connected to Postgres at %s (recovered)", self.where)

    async def ping(self, timeout: float = 2.0) -> bool:
        """SELECT 1 answered in time: readiness and /api/health.

        A ping that is late is not cancelled, only no longer waited for: cancelling a query
        in flight (asyncio.timeout, or asyncpg's own timeout, which sends a cancel request)
        handed its connection back while the server's answer to the cancel was still being
        read, and the request that got the connection next failed with "cannot switch to
        state 12; another operation (2) is in progress" — a 503 under load (notebook 07).
        The late ping finishes on its own (the pool's command_timeout bounds it)."""
        if self.pool is None:
            return False
        ping = asyncio.ensure_future(self._select_one(self.pool, timeout))
        done, _ = await asyncio.wait({ping}, timeout=timeout)
        if not done:
            ping.add_done_callback(_forget)
            return False
        exc = ping.exception()
        if exc is not None:  # a probe answers "no", it never fails the request
            log.debug("Postgres ping failed: %s", describe(exc, self.settings.database_host))
            return False
        self.mark_up()
        return True

    @staticmethod
    async def _select_one(pool: asyncpg.Pool, acquire_timeout: float) -> None:
        # an acquire that times out has no query in flight: safe to give up on
        async with pool.acquire(timeout=acquire_timeout) as conn:
            await conn.fetchval("SELECT 1")

    def pool_size(self) -> float:
        return float(self.pool.get_size()) if self.pool else 0.0

    def pool_in_use(self) -> float:
        return float(self.pool.get_size() - self.pool.get_idle_size()) if self.pool else 0.0


def _forget(task: asyncio.Future) -> None:
    """A late ping's outcome is not needed: read it so asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()
