"""Shared domain pieces: the error tree and input validation."""
