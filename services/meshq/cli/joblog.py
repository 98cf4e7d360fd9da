"""What `meshq process join` and `meshq service run` print while they work.

At the default level: one line per job (queue, message id, outcome, duration, attempt) from
``JobLogObserver``, the worker's own start and stop lines, every warning, and the INFO lines
of the user's code (the reference's ``log.info(...)``); meshq's other internals and chatty
libraries (httpx's line per request, grpc, ray) stay at WARNING. ``-v`` shows meshq's INFO
too, ``-vv`` everything at DEBUG.
"""

from __future__ import annotations

import logging

import click

from meshq.agents.observer import WorkerObserver

JOB_LOGGER = "meshq.jobs"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# meshq loggers that speak at INFO by default: the per-job lines, the worker's start / stop
SHOWN_MESHQ = (JOB_LOGGER, "meshq.agents.worker", "meshq.api.services")
QUIET = ("httpx", "httpcore", "openai", "grpc", "ray", "urllib3", "asyncio")

logger = logging.getLogger(JOB_LOGGER)


class JobLogObserver(WorkerObserver):
    """One INFO line per finished job: ``support-jobs 5f1c…0001 ok in 1.234s (attempt 1)``."""

    def job_done(self, queue: str, message_id: str, attempt: int, outcome: str,
                 seconds: float) -> None:
        logger.info("%s %s %s in %.3fs (attempt %d)", queue, message_id, outcome, seconds,
                    attempt, extra={"queue": queue, "message_id": message_id,
                                    "outcome": outcome, "seconds": seconds})


def verbosity() -> int:
    """How many ``-v`` the root command was given."""
    ctx = click.get_current_context(silent=True)
    return int(ctx.find_root().params.get("verbose") or 0) if ctx else 0


def configure_worker_logging(verbose: int) -> None:
    """Set the levels the module docstring describes (replacing the root command's)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format=LOG_FORMAT)
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    if verbose >= 2:
        return
    logging.getLogger("meshq").setLevel(logging.INFO if verbose else logging.WARNING)
    for name in SHOWN_MESHQ:
        logging.getLogger(name).setLevel(logging.INFO)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
