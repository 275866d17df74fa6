"""Real database servers (PostgreSQL, Redis) from pip wheels, started on a given IP:port.

Kept apart from the node so the same code starts a server for a test fixture, a benchmark
or a labcluster pod: each runtime separates *building* the command (argv, env, user) from
*running* it, because the node runs the command under its own supervisor.
"""

from labcluster.runtimes.base import Command, ServerError, ServerProcess
from labcluster.runtimes.postgres import PostgresServer
from labcluster.runtimes.redis import RedisServer

__all__ = ["Command", "PostgresServer", "RedisServer", "ServerError", "ServerProcess"]
