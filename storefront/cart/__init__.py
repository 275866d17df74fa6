"""The cart service (port 8080): carts in Redis keyed by a session id."""
