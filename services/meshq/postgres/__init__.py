"""The PostgreSQL tier: several meshq replicas share one database (docs/postgres.md).

``pool`` (connections, reachability), ``schema`` (migrations), ``messages`` (the one insert
path of queue messages), and one module per store: ``schedule_store``, ``storage``, ``queue``.
"""
