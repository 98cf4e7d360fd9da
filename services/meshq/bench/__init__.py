"""Benchmarks behind `meshq bench …`: each module has one click command that prints its figures."""
