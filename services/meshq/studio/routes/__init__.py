"""The Studio's pages and actions, one module per area."""
