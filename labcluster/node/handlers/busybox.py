"""`busybox*` and `curlimages/curl*`: test-pod images served by built-in applets.

There are no busybox binaries here; /bin/sh (the machine's POSIX shell) plus the
toolbox applets cover what the lab runs in test pods (`sleep`, `sh -c`, `nslookup`,
`wget -qO-`, `curl -s`). The system's real curl is used when installed, and imageID says
which.
"""

from __future__ import annotations

from dataclasses import dataclass

from labcluster.node.binaries import system_tool
from labcluster.node.imagebase import STOCK_TAG, ImageHandler, ImagePullError, ImageRef, NodeConfig

APPLETS = ("nslookup", "wget", "sleep", "echo", "cat", "env", "hostname", "true", "false")


def _stock(ref: ImageRef) -> None:
    if not STOCK_TAG.match(ref.tag) and not ref.tag.startswith(("1.", "musl", "glibc", "uclibc")):
        raise ImagePullError(ref.raw)


@dataclass
class BusyboxImage(ImageHandler):
    @staticmethod
    def matches(ref: ImageRef) -> bool:
        return ref.name == "busybox"

    @classmethod
    def create(cls, ref: ImageRef, node: NodeConfig | None) -> BusyboxImage:
        _stock(ref)
        return cls(ref, node, entrypoint=[], cmd=["sh"], workdir="/")

    def commands(self) -> dict[str, list[str]]:
        table = {"sh": ["/bin/sh"], **self.toolbox(*APPLETS, "curl")}
        return table

    def image_id(self) -> str:
        return "labcluster://busybox@builtin (labcluster toolbox applets + /bin/sh)"


@dataclass
class CurlImage(ImageHandler):
    @staticmethod
    def matches(ref: ImageRef) -> bool:
        return ref.name == "curlimages/curl"

    @classmethod
    def create(cls, ref: ImageRef, node: NodeConfig | None) -> CurlImage:
        _stock(ref)
        # the image's USER curl_user (uid 100, group curl_group 101)
        return cls(ref, node, entrypoint=["curl"], cmd=["--help"], workdir="/home/curl_user",
                   user=(100, 101))

    def commands(self) -> dict[str, list[str]]:
        table = {"sh": ["/bin/sh"], **self.toolbox(*APPLETS)}
        table["curl"] = self.client("curl", system_tool("curl"))
        return table

    def image_id(self) -> str:
        real = self.client("curl", system_tool("curl"))[0]
        builtin = real != system_tool("curl")
        what = "labcluster toolbox curl" if builtin else real
        return f"labcluster://curlimages/curl@{'builtin' if builtin else 'system'} ({what})"
