"""Joining Ray: a local instance started inside the command, or an existing cluster.

Without an address, ``ray.init`` starts a Ray instance on this machine with its cores (the
embedded default: nothing to install or start by hand) and it is shut down when the command
ends. ``auto`` joins the cluster ``ray start`` runs on this machine, ``ray://host:port`` one
elsewhere (Ray Client). A process that already called ``ray.init`` (a test, a notebook) is
left connected as it is. ``RAY_ADDRESS`` in the environment is honoured as Ray documents.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

# Rendering inside workers is headless, as in the CLI and the tests: a worker on another
# node has no display either.
_WORKER_ENV = ("MUJOCO_GL", "PYOPENGL_PLATFORM")


def _worker_env() -> dict[str, str]:
    return {k: os.environ.get(k, "egl") for k in _WORKER_ENV}


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Ray connected for the body; a local instance is shut down afterwards.

    Args:
        address: None (start a local instance), ``auto`` or ``ray://host:port``.
        num_cpus: CPUs of a local instance (default: the machine's); ignored when joining.

    Raises:
        ValueError: when Ray cannot start or the cluster cannot be reached.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    kwargs: dict = {
        "include_dashboard": False,
        # Worker output stays in Ray's log files; the sweep keeps a log per run instead of
        # interleaving every run's lines on this terminal.
        "log_to_driver": False,
        "runtime_env": {"env_vars": _worker_env()},
    }
    if address:
        kwargs["address"] = address
    elif num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError) as e:
        where = address or "a local instance"
        raise ValueError(f"cannot start or join Ray ({where}): {e}") from e
    try:
        yield
    finally:
        ray.shutdown()


def cluster_cpus() -> int:
    """CPUs of the connected Ray cluster (all nodes)."""
    import ray

    return int(ray.cluster_resources().get("CPU", 1))


__all__ = ["cluster_cpus", "ray_session"]
