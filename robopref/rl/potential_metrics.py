"""The potential's own return beside true success in ``metrics.csv`` (issue 14, item 5).

A run with a PRM or VLM potential logs, per interval and over the same recent episodes as
``true_return`` and ``success_rate``:

* ``reward/potential_return``: the mean over those episodes of ``sum_t Phi(s_t')``, the
  potential summed over each episode's steps (the same figure whether the potential shapes
  the reward or is paid directly, and whatever ``shaping.scale``);
* ``reward/potential_return_success`` and ``reward/potential_return_failure``: the same mean
  over the successful and over the failed episodes among them (NaN where there are none);
* ``reward/direct``: the mean episode sum of the direct term (``shaping.mode=direct``; 0 in
  difference mode), beside the loop's ``reward/shaping``.

Read against ``success_rate`` over training, they show whether the policy raises the
potential by doing the task or by finding states the potential overrates (Goodhart's law):
a potential return that climbs while success does not, or failed episodes that score as high
as successful ones.

The columns are added by a subclass of the loop's callback, so runs without a potential keep
the loop's own columns; `robopref.rl.pebble.append_metrics_row` and ``trim_metrics`` keep
the header of an existing ``metrics.csv`` (an older run resumed here gets the new columns).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robopref.rewards.shaping import INFO_DIRECT, INFO_POTENTIAL_RETURN
from robopref.rl.pebble import METRIC_FIELDS, PebbleCallback

POTENTIAL_RETURN = "reward/potential_return"
POTENTIAL_FIELDS = (
    INFO_DIRECT,
    POTENTIAL_RETURN,
    f"{POTENTIAL_RETURN}_success",
    f"{POTENTIAL_RETURN}_failure",
)


class PotentialMetricsCallback(PebbleCallback):
    """`PebbleCallback` that also logs the potential's return per episode (module doc).

    The env's shaping wrapper reports each episode's potential return on the step that ends
    it (``info["reward/potential_return"]``); `_on_episode` has already put that episode in
    ``recent`` inside the same env step, so the figures are attached to ``recent[-1]``.
    """

    metric_fields = (*METRIC_FIELDS, *POTENTIAL_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._direct = 0.0

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            self._direct += float(info.get(INFO_DIRECT, 0.0))
            if INFO_POTENTIAL_RETURN in info and self.recent:
                self.recent[-1][POTENTIAL_RETURN] = float(info[INFO_POTENTIAL_RETURN])
                self.recent[-1][INFO_DIRECT] = self._direct
                self._direct = 0.0
        return super()._on_step()

    def metrics_row(self) -> dict[str, Any]:
        row = super().metrics_row()
        recent = [r for r in self.recent if POTENTIAL_RETURN in r]

        def mean(key: str, success: bool | None = None) -> float:
            values = [r[key] for r in recent if success is None or bool(r["success"]) == success]
            return float(np.mean(values)) if values else float("nan")

        row[INFO_DIRECT] = mean(INFO_DIRECT)
        row[POTENTIAL_RETURN] = mean(POTENTIAL_RETURN)
        row[f"{POTENTIAL_RETURN}_success"] = mean(POTENTIAL_RETURN, True)
        row[f"{POTENTIAL_RETURN}_failure"] = mean(POTENTIAL_RETURN, False)
        return row


__all__ = [
    "POTENTIAL_FIELDS",
    "POTENTIAL_RETURN",
    "PotentialMetricsCallback",
]
