"""orderly: an order-management backend."""

__version__ = "0.1.0"
