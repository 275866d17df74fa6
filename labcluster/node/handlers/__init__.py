"""One module per image family; CATALOG is the order `images.resolve` tries them in."""

from __future__ import annotations

from collections.abc import Callable

from labcluster.node.handlers.busybox import BusyboxImage, CurlImage
from labcluster.node.handlers.courserunner import CourseRunnerImage
from labcluster.node.handlers.nginx import NginxImage
from labcluster.node.handlers.postgres import PostgresImage
from labcluster.node.handlers.redis import RedisImage
from labcluster.node.handlers.storefront import StorefrontImage
from labcluster.node.imagebase import ImageHandler, ImageRef, NodeConfig

Factory = Callable[[ImageRef, NodeConfig | None], ImageHandler]

CATALOG: list[tuple[Callable[[ImageRef], bool], Factory]] = [
    (PostgresImage.matches, PostgresImage.create),
    (RedisImage.matches, RedisImage.create),
    (NginxImage.matches, NginxImage.create),
    (StorefrontImage.matches, StorefrontImage.create),
    (BusyboxImage.matches, BusyboxImage.create),
    (CurlImage.matches, CurlImage.create),
    (CourseRunnerImage.matches, CourseRunnerImage.create),
]
