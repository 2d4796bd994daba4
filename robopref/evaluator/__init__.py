"""The low-latency reward evaluator: exported heads, evaluated by a small C extension.

A trained preference ensemble and PRM head (with its success and preference heads where they
were trained: `Evaluator.success_probability`, `Evaluator.preference_score`) are exported with
their shaping constants into one checked binary file (`blob`, extension ``.rpe``, DESIGN.md
contract 7; `export_blob`, `export_models`); so is the deterministic actor of a state-based
run, with its observation preprocessing and layout (``robopref export --policy``:
`robopref.rl.export_policy`), which the hardware bridge then runs without torch or the
learner (`Evaluator.action`).
`Evaluator.load` reads a blob into a backend:

* ``"c"`` (the default): ``robopref.evaluator._evaluator``, one C file built by setup.py;
  no allocation per call, thread-safe, the GIL released in batch calls;
* ``"numpy"``: `reference.NumpyEvaluator`, the same maths in NumPy; the C kernels' test
  oracle.

The backend is chosen explicitly (argument, or the ``ROBOPREF_EVALUATOR_BACKEND``
environment variable); a missing C build is an error, never a silent fall back to NumPy.
Inputs are C-contiguous float32 arrays (bool for masks and flags), checked with a clear
`ValueError`; NaN or inf in an input raises `ValueError` too (a NaN reward would silently
poison the learner or the robot's controller), as does a non-finite output. Nothing here
imports torch.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from robopref.evaluator.blob import Blob, BlobFormatError, decode_blob, read_blob, read_blob_bytes
from robopref.evaluator.export import export_blob, export_models

__all__ = [
    "BACKENDS",
    "Blob",
    "BlobFormatError",
    "Evaluator",
    "decode_blob",
    "export_blob",
    "export_models",
    "read_blob",
]

BACKENDS = ("c", "numpy")
BACKEND_ENV = "ROBOPREF_EVALUATOR_BACKEND"


def _c_module() -> Any:
    try:
        from robopref.evaluator import _evaluator
    except ImportError as e:
        raise ImportError(
            "robopref.evaluator._evaluator (the C evaluator) is not built; build it with "
            "`pip install -e . --no-build-isolation` (needs a C compiler), or choose the NumPy "
            f"twin explicitly with backend='numpy' or {BACKEND_ENV}=numpy"
        ) from e
    return _evaluator


def _rows(x: Any) -> int:
    shape = getattr(x, "shape", None)  # a wrong input gets its error from the backend
    return int(shape[0]) if shape else 0


class Evaluator:
    """The heads of one blob on one backend. Build it with `load` or `from_bytes`.

    Attributes:
        backend: ``"c"`` or ``"numpy"``.
        name: the file it came from (for errors and logs).
        info: ``{"preference": ..., "prm": ..., "gamma": ..., "scale": ..., "policy": ...}``:
            each head's shapes and options (the policy's also its task, robot and
            observation layout; the PRM's ``"heads"``: which of ``("success",
            "preference")`` it has besides progress), or None where the blob has no such
            head.
    """

    def __init__(self, impl: Any, backend: str, name: str) -> None:
        self._impl, self.backend, self.name = impl, backend, name
        self.info: dict[str, Any] = impl.info

    @classmethod
    def load(cls, path: str | os.PathLike[str], backend: str | None = None) -> Evaluator:
        """Reads and validates a ``.rpe`` file.

        Args:
            path: the blob file.
            backend: ``"c"`` or ``"numpy"``; default: ``$ROBOPREF_EVALUATOR_BACKEND`` or "c".

        Raises:
            FileNotFoundError: if there is no such file.
            BlobFormatError: naming the file, if the blob is corrupt or not understood.
            ImportError: if the C backend is asked for and not built.
        """
        return cls.from_bytes(read_blob_bytes(path), backend, name=str(path))

    @classmethod
    def from_bytes(
        cls, data: bytes, backend: str | None = None, name: str = "<bytes>"
    ) -> Evaluator:
        """As `load`, from the blob's bytes."""
        backend = backend if backend is not None else os.environ.get(BACKEND_ENV, "c")
        if backend == "numpy":
            from robopref.evaluator.reference import NumpyEvaluator

            return cls(NumpyEvaluator(decode_blob(data, name)), backend, name)
        if backend != "c":
            raise ValueError(f"unknown evaluator backend {backend!r}; valid: {BACKENDS}")
        module = _c_module()
        try:
            impl = module.Evaluator(data)
        except ValueError as e:  # the C parser's refusal, typed and named like the reader's
            raise BlobFormatError(f"{name}: {e}") from None
        return cls(impl, backend, name)

    @property
    def kernel(self) -> str:
        """Which kernels run: ``"avx2"`` or ``"generic"`` (C), or ``"numpy"``."""
        return self._impl.kernel

    def reward(self, state: Any, action: Any = None) -> tuple[float, float]:
        """Ensemble mean and spread (population std over members) of the reward at one step.

        Args:
            state: float32 ``(obs_dim,)``.
            action: float32 ``(act_dim,)`` for a ``"state_action"`` head; ignored otherwise.

        Raises:
            ValueError: no preference head, a wrong dtype/shape/layout, NaN or inf.
        """
        return self._impl.reward(state, action)

    def reward_batch(self, states: Any, actions: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """`reward` of ``N`` steps: float32 ``(N, obs_dim)`` [and ``(N, act_dim)``].

        Returns:
            ``(means, spreads)``, float32 ``(N,)`` each.
        """
        n = _rows(states)
        means, spreads = np.empty(n, np.float32), np.empty(n, np.float32)
        self._impl.reward_batch(states, actions, means, spreads)
        return means, spreads

    def potential(self, features: Any, mask: Any = None) -> float:
        """The PRM potential ``Phi`` of one observation.

        Args:
            features: float32 ``(V, D)``, one row per view (in ``info["prm"]["views"]`` order).
            mask: bool ``(V,)``, the views present (default: all); at least one.

        Raises:
            ValueError: no PRM head, a wrong dtype/shape/layout, NaN or inf in a present
                view, no view present.
        """
        return self._impl.potential(features, mask)

    def potential_batch(self, features: Any, mask: Any = None) -> np.ndarray:
        """`potential` of ``N`` observations: float32 ``(N, V, D)``, mask bool ``(N, V)``."""
        out = np.empty(_rows(features), np.float32)
        self._impl.potential_batch(features, mask, out)
        return out

    def success_probability(self, features: Any, mask: Any = None) -> float:
        """P(success) of one observation from the PRM's success head (issue 14):
        ``sigmoid(MLP_s(z))`` on the same fused feature ``z`` as `potential`.

        Args:
            features, mask: as `potential`.

        Raises:
            ValueError: the blob has no PRM success head (a PRM exported before the head
                existed, or whose success head was never trained), or what `potential`
                raises.
        """
        return self._impl.success_probability(features, mask)

    def success_probability_batch(self, features: Any, mask: Any = None) -> np.ndarray:
        """`success_probability` of ``N`` observations: float32 ``(N, V, D)`` -> ``(N,)``."""
        out = np.empty(_rows(features), np.float32)
        self._impl.success_probability_batch(features, mask, out)
        return out

    def preference_score(self, features: Any, mask: Any = None) -> float:
        """The PRM preference head's score of one observation (``MLP_p(z)``).

        It is a per-frame score: a segment's score is the mean over its frames, and only
        differences between segments mean anything (Bradley-Terry fixes no offset).

        Raises:
            ValueError: the blob has no PRM preference head, or what `potential` raises.
        """
        return self._impl.preference_score(features, mask)

    def preference_score_batch(self, features: Any, mask: Any = None) -> np.ndarray:
        """`preference_score` of ``N`` observations: float32 ``(N, V, D)`` -> ``(N,)``."""
        out = np.empty(_rows(features), np.float32)
        self._impl.preference_score_batch(features, mask, out)
        return out

    def shaped(
        self,
        features: Any,
        next_features: Any,
        terminated: Any,
        mask: Any = None,
        next_mask: Any = None,
    ) -> float:
        """The shaping term ``scale * (gamma * Phi(s') * (1 - terminated) - Phi(s))``.

        Phi of a terminal state is 0 (DESIGN.md contract 4), so ``next_features`` is not
        evaluated when ``terminated`` (only its shape is checked); a time-limit truncation
        is not termination: pass ``terminated=False``.

        Args:
            features, next_features: float32 ``(V, D)`` of ``s`` and ``s'``.
            terminated: a bool (or exactly 0/1).
            mask, next_mask: bool ``(V,)`` or None (all views present).
        """
        return self._impl.shaped(features, next_features, terminated, mask, next_mask)

    def shaped_batch(
        self,
        features: Any,
        next_features: Any,
        terminated: Any,
        mask: Any = None,
        next_mask: Any = None,
    ) -> np.ndarray:
        """`shaped` of ``N`` transitions (``terminated`` bool ``(N,)``); float64 ``(N,)``."""
        out = np.empty(_rows(features), np.float64)
        self._impl.shaped_batch(features, next_features, terminated, mask, next_mask, out)
        return out

    def action(self, state: Any, out: np.ndarray | None = None) -> np.ndarray:
        """The policy's deterministic action at one state.

        Args:
            state: float32 ``(obs_dim,)``, the raw state (the blob normalizes it).
            out: float32 ``(act_dim,)`` to fill (no allocation), or None for a new array.

        Returns:
            ``out``, or a new float32 ``(act_dim,)`` array.

        Raises:
            ValueError: no policy, a wrong dtype/shape/layout, NaN or inf, a non-finite output.
        """
        if out is None:
            policy = self.info["policy"]
            out = np.empty(policy["act_dim"] if policy else 0, np.float32)
        self._impl.act(state, out)
        return out

    def action_batch(self, states: Any) -> np.ndarray:
        """`action` of ``N`` states: float32 ``(N, obs_dim)`` -> float32 ``(N, act_dim)``."""
        policy = self.info["policy"]
        out = np.empty((_rows(states), policy["act_dim"] if policy else 0), np.float32)
        self._impl.act_batch(states, out)
        return out

    def __repr__(self) -> str:
        heads = [k for k in ("preference", "prm", "policy") if self.info[k] is not None]
        return f"Evaluator({self.name!r}, backend={self.backend!r}, heads={heads})"
