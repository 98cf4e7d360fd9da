"""Developer tooling: not imported at run time."""
