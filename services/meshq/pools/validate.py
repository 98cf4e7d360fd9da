"""Checks on pool settings; each raises InvalidArgument saying what to fix."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from meshq.core.errors import InvalidArgument
from meshq.core.validation import check_name, check_seconds, check_text, parse_json, shown
from meshq.pools.model import (
    MAX_CONCURRENCY,
    MAX_COOLDOWN,
    MAX_CPUS,
    MAX_REPLICAS,
    AgentConfig,
    ScalingConfig,
)

MAX_RULE_BYTES = 16 * 1024
MAX_RULES = 100
MAX_ARGS_BYTES = 64 * 1024


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
