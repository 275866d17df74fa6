"""The backend service (port 5000): products, orders, health and metrics."""
