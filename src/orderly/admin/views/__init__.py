"""The panel's views, one module per area."""
