"""Type stub of the C extension (robopref/evaluator/_evaluator.c); use `robopref.evaluator`."""

from typing import Any

from typing_extensions import Buffer  # stubs may use it on every Python version

KERNELS: tuple[str, ...]
VERSION: int
MAX_DIM: int
MAX_LAYERS: int
MAX_MEMBERS: int
MAX_VIEWS: int
MAX_TEXT_BYTES: int
POLICY_VERSION: int
PRM_HEAD_VERSION: int

def stream(data: Buffer, passes: int) -> float: ...

class Evaluator:
    def __new__(cls, data: Buffer, kernel: str = "auto") -> Evaluator: ...
    @property
    def info(self) -> dict[str, Any]: ...
    @property
    def kernel(self) -> str: ...
    def reward(self, state: Buffer, action: Buffer | None = None, /) -> tuple[float, float]: ...
    def reward_batch(
        self, states: Buffer, actions: Buffer | None, means: Buffer, spreads: Buffer, /
    ) -> None: ...
    def potential(self, features: Buffer, mask: Buffer | None = None, /) -> float: ...
    def potential_batch(self, features: Buffer, mask: Buffer | None, out: Buffer, /) -> None: ...
    def success_probability(self, features: Buffer, mask: Buffer | None = None, /) -> float: ...
    def success_probability_batch(
        self, features: Buffer, mask: Buffer | None, out: Buffer, /
    ) -> None: ...
    def preference_score(self, features: Buffer, mask: Buffer | None = None, /) -> float: ...
    def preference_score_batch(
        self, features: Buffer, mask: Buffer | None, out: Buffer, /
    ) -> None: ...
    def shaped(
        self,
        features: Buffer,
        next_features: Buffer,
        terminated: object,
        mask: Buffer | None = None,
        next_mask: Buffer | None = None,
        /,
    ) -> float: ...
    def shaped_batch(
        self,
        features: Buffer,
        next_features: Buffer,
        terminated: Buffer,
        mask: Buffer | None,
        next_mask: Buffer | None,
        out: Buffer,
        /,
    ) -> None: ...
    def act(self, state: Buffer, out: Buffer, /) -> None: ...
    def act_batch(self, states: Buffer, out: Buffer, /) -> None: ...
