"""The `meshq` command line."""
