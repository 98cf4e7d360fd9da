"""The queue engine: durable at-least-once queues with leases, addressed by (room, queue)."""
