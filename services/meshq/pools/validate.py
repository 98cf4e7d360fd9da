"""Checks on pool settings; each raises InvalidArgument saying what to fix."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from meshq.core.errors import InvalidArgument
from meshq.core.validation import check_name, check_seconds, check_text, parse_json, shown
from meshq.pools.model import (
    MAX_CONCURRENCY,
    MAX_COOLDOWN,
    MAX_CPUS,
    MAX_REPLICAS,
    AgentConfig,
    RuntimeConfig,
    ScalingConfig,
)

MAX_RULE_BYTES = 16 * 1024
MAX_RULES = 100
MAX_ARGS_BYTES = 64 * 1024
MAX_ENV_VARS = 100
MAX_ENV_VALUE_BYTES = 32 * 1024
MAX_PATH_BYTES = 4096
MAX_PY_MODULES = 20
LLM_APIS = ("responses", "chat")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_scaling(scaling: ScalingConfig, *, max_allowed: int = MAX_REPLICAS) -> ScalingConfig:
    """Fixed replicas in 0..max_allowed, or 0 <= min <= max <= max_allowed with max >= 1."""
    if not scaling.autoscaled:
        if not 0 <= scaling.replicas <= max_allowed:
            raise InvalidArgument(f"replicas must be between 0 and {max_allowed}, "
                                  f"got {scaling.replicas}")
    else:
        if scaling.max_replicas > max_allowed:
            raise InvalidArgument(f"max_replicas must be at most {max_allowed}, "
                                  f"got {scaling.max_replicas}")
        if scaling.min_replicas > scaling.max_replicas:
            raise InvalidArgument(f"min_replicas ({scaling.min_replicas}) must not exceed "
                                  f"max_replicas ({scaling.max_replicas})")
    if scaling.target_backlog < 1:
        raise InvalidArgument(f"target_backlog must be at least 1, got {scaling.target_backlog}")
    check_seconds("cooldown_seconds", scaling.cooldown_seconds, maximum=MAX_COOLDOWN)
    return scaling


def check_concurrency(value: int) -> int:
    if not 1 <= value <= MAX_CONCURRENCY:
        raise InvalidArgument(f"concurrency must be between 1 and {MAX_CONCURRENCY}, got {value}")
    return value


def check_cpus(value: float) -> float:
    if not math.isfinite(value) or not 0 <= value <= MAX_CPUS:
        raise InvalidArgument(f"cpus_per_actor must be between 0 and {MAX_CPUS:g}, "
                              f"got {shown(value)}")
    return value


def check_agent(agent: AgentConfig) -> AgentConfig:
    check_name("agent.agent_name", agent.agent_name)
    if len(agent.rules) > MAX_RULES:
        raise InvalidArgument(f"agent.rules has {len(agent.rules)} rules; the limit is {MAX_RULES}")
    for rule in agent.rules:
        check_text("agent.rules", rule, max_bytes=MAX_RULE_BYTES)
    check_text("agent.model", agent.model, max_bytes=256)
    return agent


def parse_worker_args(text: str) -> dict[str, Any]:
    """The worker's keyword arguments: a JSON object (empty text: none)."""
    if not text.strip():
        return {}
    check_text("worker_args_json", text, max_bytes=MAX_ARGS_BYTES)
    value = parse_json("worker_args_json", text)
    if not isinstance(value, Mapping):
        raise InvalidArgument("worker_args_json must be a JSON object of keyword arguments, "
                              f"got {type(value).__name__}")
    for key in value:
        if not str(key).isidentifier():
            raise InvalidArgument(f"worker_args_json key {shown(key)} is not a Python identifier")
    return dict(value)


def check_llm_api(value: str) -> str:
    """"responses" (also for empty) or "chat"."""
    value = value or LLM_APIS[0]
    if value not in LLM_APIS:
        raise InvalidArgument(f"agent.llm_api must be one of {', '.join(LLM_APIS)}, "
                              f"got {shown(value)}")
    return value


def check_runtime(runtime: RuntimeConfig) -> RuntimeConfig:
    """Environment names and sizes (values are never echoed), and the paths Ray will ship:
    a local path must be an existing absolute path on this machine; a URI is Ray's to fetch."""
    if len(runtime.env) > MAX_ENV_VARS:
        raise InvalidArgument(f"env has {len(runtime.env)} variables; the limit is {MAX_ENV_VARS}")
    for name, value in runtime.env.items():
        if not _ENV_NAME.match(name):
            raise InvalidArgument(f"env name {shown(name)} is not a variable name "
                                  "(letters, digits and _, not starting with a digit)")
        if len(value.encode()) > MAX_ENV_VALUE_BYTES or "\0" in value:
            raise InvalidArgument(f"env {name}: the value is over {MAX_ENV_VALUE_BYTES} bytes "
                                  "or contains NUL")
    if runtime.working_dir:
        _check_shipped("working_dir", runtime.working_dir, directory=True)
    if len(runtime.py_modules) > MAX_PY_MODULES:
        raise InvalidArgument(f"py_modules has {len(runtime.py_modules)} entries; the limit is "
                              f"{MAX_PY_MODULES}")
    for module in runtime.py_modules:
        _check_shipped("py_modules", module, directory=False)
    return runtime


def _check_shipped(field: str, value: str, *, directory: bool) -> None:
    check_text(field, value, max_bytes=MAX_PATH_BYTES)
    if "://" in value:
        return
    path = Path(value)
    if not path.is_absolute():
        raise InvalidArgument(f"{field} {shown(value)} must be an absolute path on the server's "
                              "machine (or a remote URI such as https://.../x.zip)")
    if directory and not path.is_dir() or not directory and not path.exists():
        raise InvalidArgument(f"{field} {shown(value)} does not exist on the server's machine"
                              + (" as a directory" if directory else ""))
