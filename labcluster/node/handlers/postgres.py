"""`postgres:*`: a real PostgreSQL server with the official image's behaviour."""

from __future__ import annotations

from dataclasses import dataclass

from labcluster.node.images import STOCK_TAG, ImageHandler, ImagePullError, ImageRef, NodeConfig


@dataclass
class PostgresImage(ImageHandler):
    @staticmethod
    def matches(ref: ImageRef) -> bool:
        return ref.name == "postgres"

    @classmethod
    def create(cls, ref: ImageRef, node: NodeConfig | None) -> PostgresImage:
        if not STOCK_TAG.match(ref.tag):
            raise ImagePullError(ref.raw)
        raise ImagePullError(ref.raw, "cannot run here yet (labcluster/runtimes/postgres.py)")
