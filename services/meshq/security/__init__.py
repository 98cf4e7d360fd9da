"""Authentication and authorisation for every RPC: tokens, the RPC table, the interceptor.

See docs/security.md for the threat model and what each grant allows.
"""
