"""`storefront:<version>`: this package's storefront, run on the current interpreter.

The image exists in exactly one tag, the package's version (what its Dockerfile builds
and tags); any other tag fails to pull, as `storefront:v0.1.0` does on a real cluster.
The image ships `nslookup`, `dig`, `curl` and `psql` (its Dockerfile installs them): the
real curl/psql when present here, the toolbox nslookup/dig otherwise.
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from importlib import metadata

from labcluster.node.binaries import pg_tool, system_tool
from labcluster.node.imagebase import ImageHandler, ImagePullError, ImageRef, NodeConfig

LAUNCHER = (
    "import sys; sys.argv[0] = 'storefront'; from storefront.cli import main; "
    "sys.exit(main())"
)


@cache
def storefront_version() -> str | None:
    """The version of the installed distribution that provides `storefront` (labcluster
    never imports it): the tag its image carries."""
    if importlib.util.find_spec("storefront") is None:
        return None
    for dist in metadata.packages_distributions().get("storefront", []):
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(dist)
    return None


@dataclass
class StorefrontImage(ImageHandler):
    @staticmethod
    def matches(ref: ImageRef) -> bool:
        return ref.name.rsplit("/", 1)[-1] == "storefront"

    @classmethod
    def create(cls, ref: ImageRef, node: NodeConfig | None) -> StorefrontImage:
        version = storefront_version()
        if version is None:
            raise ImagePullError(ref.raw, "not found (the storefront package is not installed)")
        if ref.tag != version:
            raise ImagePullError(ref.raw, f"not found (the storefront image is tagged {version})")
        # storefront/Dockerfile: USER 10001:10001
        return cls(ref, node, entrypoint=["storefront"], cmd=["backend"], workdir="/",
                   default_env={"PYTHONUNBUFFERED": "1"}, user=(10001, 10001))

    def commands(self) -> dict[str, list[str]]:
        python = self.node.python if self.node else __import__("sys").executable
        table = {
            "storefront": [python, "-c", LAUNCHER],
            "python": [python],
            "python3": [python],
            "sh": ["/bin/sh"],
            **self.toolbox("nslookup", "dig", "sleep", "cat", "env", "hostname"),
        }
        table["curl"] = self.client("curl", system_tool("curl"))
        psql = pg_tool("psql")
        if psql:
            table["psql"] = [psql]
        return table

    def image_id(self) -> str:
        import platform

        return (
            f"labcluster://storefront@{self.ref.tag} "
            f"(this package on Python {platform.python_version()})"
        )
