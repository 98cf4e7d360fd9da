"""The worker runtime: queue-consuming agents (``meshq.agents.worker.Worker``) and their parts."""
