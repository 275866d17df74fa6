"""The image catalog: which image names this node can "pull", and what runs for each.

There is no registry and no container runtime here, so an image is a handler class that
knows the image's entrypoint/cmd, its well-known paths, the commands it ships (for
`command:`, `exec`, probes) and how to start its main program on this machine.
`resolve()` is the pull: an unknown image (or a tag that cannot exist) raises
ImagePullError naming the image, which the kubelet reports as ErrImagePull /
ImagePullBackOff exactly as a real one reports a registry's "not found".
"""

from __future__ import annotations

from labcluster.node.handlers import CATALOG
from labcluster.node.imagebase import (
    PACKAGE_ROOT,
    STOCK_TAG,
    CommandNotFound,
    ImageHandler,
    ImagePullError,
    ImageRef,
    NodeConfig,
    pick_install,
    tag_major,
)

# the node's image interface in one import (node/README.md); the names live in imagebase
__all__ = ["PACKAGE_ROOT", "STOCK_TAG", "CommandNotFound", "ImageHandler", "ImagePullError",
           "ImageRef", "NodeConfig", "pick_install", "resolve", "tag_major"]


def resolve(image: str, node: NodeConfig | None = None) -> ImageHandler:
    """The pull: a handler for `image`, or ImagePullError naming it."""
    ref = ImageRef.parse(image)
    if not ref.name:
        raise ImagePullError(image, "not found (no image name)")
    if ref.digest:
        raise ImagePullError(image, "not found (labcluster's images have no digests)")
    for matches, factory in CATALOG:
        if matches(ref):
            return factory(ref, node)
    raise ImagePullError(image)
