"""The storefront the course deploys: backend API, cart service and static web tier."""

__version__ = "0.1.0"
