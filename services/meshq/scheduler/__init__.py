"""The scheduler service: durable cron tasks that enqueue each due instant exactly once."""
