"""Replicas as Ray async actors, spread over the cluster, restarted by Ray when they die.

Pitfalls measured in NOTES.md and how this module meets them:

- Ray re-runs only ``__init__`` after an actor restart, so the actor starts its worker from
  ``__init__`` (an async actor's ``__init__`` runs on its event loop).
- Actors made by another actor die with it: the service process (the driver) creates them.
- ``ray.init`` against an address nobody listens on hangs for minutes: a TCP probe with a
  short timeout comes first, so StartPool answers UNAVAILABLE at once.
- ``ray.init`` blocks for seconds: it runs in a thread, at the first StartPool, never at
  ``meshq up``; that thread never exits (Ray's daemons die with the thread that made them).
- ``ray.kill`` skips ``__ray_shutdown__``: a graceful stop calls the actor's ``stop`` first
  and kills it (without restart) afterwards.
- A local Ray can die under us (killing its dashboard agent takes the raylet with it): the
  driver survives, ``ray.is_initialized()`` stays true, every actor call then fails.
  ``alive()`` checks the local daemons; ``restart()`` shuts Ray down and starts it again, and
  the watchdog (``watchdog.py``) re-creates the pools on it.

Ray failures are FAILED_PRECONDITION naming Ray and what to do: meshq itself answered (an
UNAVAILABLE would read as "meshq is not reachable").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from dataclasses import replace
from typing import Any

from meshq.core.errors import FailedPrecondition
from meshq.pools.backend import PoolBackend, ReplicaHandle
from meshq.pools.model import DEAD, FAILED, RESTARTING, ReplicaSpec, ReplicaStatus
from meshq.pools.replica import ReplicaRunner

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0  # seconds to reach a Ray cluster's GCS port before giving up
INIT_TIMEOUT = 60.0  # seconds ray.init may take
STOP_MARGIN = 10.0  # seconds beyond the grace an actor gets to answer stop() before it is killed


class ReplicaActor:
    """The body of a pool actor (decorated with ``ray.remote`` in ``_actor_class``)."""

    def __init__(self, spec: ReplicaSpec, index: int) -> None:
        self.runner = ReplicaRunner(spec, index)
        self._start = asyncio.get_running_loop().create_task(self.runner.start())

    async def status(self) -> ReplicaStatus:
        return self.runner.status()

    async def stop(self, grace: float) -> ReplicaStatus:
        if not self._start.done():
            await asyncio.wait({self._start}, timeout=grace)
        return await self.runner.stop(grace)


_ACTOR_CLASS: Any = None


def _actor_class() -> Any:
    """``ReplicaActor`` as a Ray actor class that Ray restarts forever (made once)."""
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        import ray

        _ACTOR_CLASS = ray.remote(max_restarts=-1, max_task_retries=-1)(ReplicaActor)
    return _ACTOR_CLASS


def probe(address: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise FailedPrecondition unless something accepts TCP connections at ``address``."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise FailedPrecondition(f"--ray-address {address!r} is not host:port (or 'auto' / "
                                 "'local')")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as err:
        raise FailedPrecondition(
            f"cannot reach the Ray cluster at {address}: {err.strerror or err}; start it "
            "(`ray start --head` or `ray up deploy/ray/cluster.yaml`) or fix --ray-address"
        ) from None


class RayBackend(PoolBackend):
    """Each replica is a ``ReplicaActor`` created from this (long-lived) process."""

    name = "ray"

    def __init__(self, *, address: str = "", runtime_env: dict[str, Any] | None = None,
                 init_kwargs: dict[str, Any] | None = None) -> None:
        self.address = address or "local"
        self.runtime_env = runtime_env
        self.init_kwargs = dict(init_kwargs or {})
        self._ready = False
        self._lock = asyncio.Lock()

    async def ensure_ready(self) -> None:
        async with self._lock:
            if self._ready:
                return
            import ray

            if self.address not in ("local", "auto"):
                await asyncio.to_thread(probe, self.address)
            if not ray.is_initialized():
                await self._init()
            self._ready = True

    async def _init(self) -> None:

        if self.address == "local":  # a local Ray otherwise turns token auth on (NOTES.md)
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        kwargs: dict[str, Any] = {"address": self.address, "ignore_reinit_error": True,
                                  "log_to_driver": False, **self.init_kwargs}
        if self.address == "local":
            kwargs.setdefault("include_dashboard", False)
        if self.runtime_env:
            kwargs["runtime_env"] = self.runtime_env
        logger.info("connecting to Ray (%s)", self.address)
        try:
            await asyncio.wait_for(_init_in_keeper_thread(kwargs), INIT_TIMEOUT)
        except TimeoutError:
            raise FailedPrecondition(self._advice(f"did not start within {INIT_TIMEOUT:g}s")
                                     ) from None
        except Exception as err:
            raise FailedPrecondition(self._advice(f"failed: {type(err).__name__}: {err}")
                                     ) from None

    def _advice(self, what: str) -> str:
        if self.address == "local":
            return (f"Ray (a local instance for the pools) {what}. meshq itself is up. Look at "
                    "/tmp/ray/session_latest/logs (raylet.err, gcs_server.err), free memory "
                    "and /tmp space, end stale Ray processes with `ray stop`, then start the "
                    "pool again (or join a running cluster with --ray-address)")
        return (f"Ray at {self.address} {what}. meshq itself is up. Check the cluster "
                "(`ray status --address ...`) and that its Ray and Python versions match "
                "this node's")

    @property
    def started(self) -> bool:
        return self._ready

    async def alive(self) -> bool:
        """False when the local Ray this backend started has died (its raylet or GCS process
        exited). A joined cluster is not ours to judge: always True."""
        if self.address != "local" or not self._ready:
            return True
        return await asyncio.to_thread(_local_daemons_alive)

    async def restart(self) -> None:
        """Shut the dead local Ray down and start a new one (actors are gone with it)."""
        import ray

        async with self._lock:
            self._ready = False
            await asyncio.to_thread(ray.shutdown)
        await self.ensure_ready()

    def reachable(self, spec: ReplicaSpec) -> ReplicaSpec:
        """On a multi-node cluster, actors on other nodes cannot dial this node's loopback:
        swap a loopback server host for this node's IP as Ray sees it."""
        from meshq.api.connection import is_loopback

        address = spec.connect.server_address
        if self.address == "local" or not is_loopback(address):
            return spec
        import ray

        port = address.rsplit(":", 1)[1]
        connect = replace(spec.connect,
                          server_address=f"{ray.util.get_node_ip_address()}:{port}")
        return replace(spec, connect=connect)

    async def start_replica(self, spec: ReplicaSpec, index: int) -> ReplicaHandle:
        if not self._ready:  # restarting: any Ray call now would auto-start another Ray
            raise FailedPrecondition("Ray is restarting; the replica starts once it is back")
        spec = self.reachable(spec)
        options: dict[str, Any] = {"num_cpus": spec.cpus, "scheduling_strategy": "SPREAD"}
        if not spec.runtime.empty:  # Ray merges it with the job's runtime_env (env_vars too)
            options["runtime_env"] = spec.runtime.runtime_env()
        actor = _actor_class().options(**options).remote(spec, index)
        return ReplicaHandle(index, actor)

    async def prepare(self, spec: ReplicaSpec) -> ReplicaSpec:
        """Upload a pool's local working_dir / py_modules to the cluster once, at pool start,
        and name them by URI in the spec every replica gets (Ray takes local paths only at
        ``ray.init``, for a whole job; a pool's own need the upload ``ray.init`` does). All
        replicas, restarted or added later, run the code as it was when the pool started."""
        runtime = spec.runtime
        if not (runtime.working_dir or runtime.py_modules):
            return spec
        try:
            shipped = await asyncio.to_thread(_upload_local_paths, runtime.runtime_env())
        except Exception as err:
            raise FailedPrecondition(f"Ray could not ship working_dir / py_modules: "
                                     f"{type(err).__name__}: {err}") from None
        return replace(spec, runtime=replace(
            runtime, working_dir=str(shipped.get("working_dir") or ""),
            py_modules=tuple(str(m) for m in shipped.get("py_modules") or ())))

    async def replica_status(self, handle: ReplicaHandle, *, timeout: float) -> ReplicaStatus:
        import ray

        if not self._ready:
            return ReplicaStatus(state=RESTARTING)
        try:
            status: ReplicaStatus = await asyncio.wait_for(
                _awaitable(handle.ref.status.remote()), timeout)
            return status
        except TimeoutError:
            return ReplicaStatus(state=RESTARTING)
        except ray.exceptions.RuntimeEnvSetupError as err:
            return ReplicaStatus(state=FAILED, last_error=_runtime_env_error(err))
        except ray.exceptions.ActorDiedError as err:
            if "runtime env" in str(err).lower() or "runtime_env" in str(err).lower():
                return ReplicaStatus(state=FAILED, last_error=_runtime_env_error(err))
            return ReplicaStatus(state=DEAD)
        except ray.exceptions.RayActorError:
            return ReplicaStatus(state=RESTARTING)

    async def stop_replica(self, handle: ReplicaHandle, grace: float) -> ReplicaStatus:
        import ray

        status = ReplicaStatus(state=DEAD)
        if not self._ready:
            return status  # its Ray is gone (or restarting): so is the replica
        try:
            status = await asyncio.wait_for(_awaitable(handle.ref.stop.remote(grace)),
                                            grace + STOP_MARGIN)
        except TimeoutError:
            logger.warning("replica %d did not stop within %.0fs; killing it", handle.index,
                           grace + STOP_MARGIN)
        except ray.exceptions.RayError as err:
            logger.info("replica %d was already gone: %s", handle.index, err)
        ray.kill(handle.ref, no_restart=True)
        return status


def _upload_local_paths(env: dict[str, Any]) -> dict[str, Any]:
    """What ``ray.init`` does to a job's runtime_env: zip local paths into the GCS (by content
    hash, so a second pool of the same code uploads nothing) and name them by URI."""
    import ray
    from ray._private.runtime_env.py_modules import upload_py_modules_if_needed
    from ray._private.runtime_env.working_dir import upload_working_dir_if_needed

    scratch = ray._private.worker.global_worker.node.get_runtime_env_dir_path()  # type: ignore[union-attr]
    env = {k: v for k, v in env.items() if k != "env_vars"}
    env = upload_py_modules_if_needed(env, include_gitignore=True, scratch_dir=scratch,
                                      logger=logger)
    env = upload_working_dir_if_needed(env, include_gitignore=True, scratch_dir=scratch,
                                       logger=logger)
    env.pop("excludes", None)
    return dict(env)


def _local_daemons_alive() -> bool:
    """Whether the GCS and raylet processes of this driver's local Ray still run.

    Reads the driver's process table (``ray._private``: Ray has no public call for it); if
    that is not there, asks the GCS whether a node is alive."""
    import ray

    node = getattr(getattr(ray, "_private", None), "worker", None)
    node = getattr(getattr(node, "global_worker", None), "node", None)
    processes = getattr(node, "all_processes", None)
    if isinstance(processes, dict) and processes:
        for name in ("gcs_server", "raylet"):
            for info in processes.get(name, []):
                if info.process.poll() is not None:
                    return False
        return True
    try:
        return any(n.get("Alive") for n in ray.nodes())
    except Exception:
        return False


async def _init_in_keeper_thread(kwargs: dict[str, Any]) -> None:
    """``ray.init`` off the event loop, in a thread that then lives as long as the process.

    A local Ray's daemons (GCS, raylet) are started with PR_SET_PDEATHSIG, which fires when
    the *thread* that started them exits: from a pool thread (``asyncio.to_thread``) they die
    when the executor shuts down, taking every actor with them.
    """
    import ray

    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(err: BaseException | None) -> None:
        if done.done():
            return
        if err is None:
            done.set_result(None)
        else:
            done.set_exception(err)

    def keeper() -> None:
        # A local Ray's first start sometimes times out waiting for its GCS port file on a
        # busy 2-core machine; a second start succeeds. Joining a cluster is not retried.
        attempts = 2 if kwargs.get("address") in (None, "local") else 1
        for attempt in range(1, attempts + 1):
            try:
                ray.init(**kwargs)
                break
            except BaseException as err:
                if attempt == attempts:
                    with contextlib.suppress(Exception):  # reap what the failed start left
                        ray.shutdown()
                    loop.call_soon_threadsafe(settle, err)
                    return
                logger.warning("starting a local Ray failed (%s); trying once more", err)
                ray.shutdown()
        loop.call_soon_threadsafe(settle, None)
        threading.Event().wait()

    threading.Thread(target=keeper, name="meshq-ray-keeper", daemon=True).start()
    await done


def _runtime_env_error(err: BaseException) -> str:
    """Ray's whole message (it says which path or package failed), without its traceback."""
    text = str(err).strip()
    return "Ray could not set up the replica's runtime_env (env, working_dir, py_modules): " + (
        text if len(text) <= 4000 else text[-4000:])


async def _awaitable(ref: Any) -> Any:
    return await ref
