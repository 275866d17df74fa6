"""The storefront the course deploys: backend API, cart service and static web tier."""

from importlib import metadata

try:  # one version for the package, the image tag and the course: pyproject.toml's
    __version__ = metadata.version("ecommerce-k8s-lab")
except metadata.PackageNotFoundError:  # a source tree used without installing it
    __version__ = "0+unknown"
