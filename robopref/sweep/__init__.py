"""Scale-out on Ray (DESIGN.md, "Scale beyond one machine"): sweeps of ordinary training
runs over settings and seeds, their results with confidence intervals, and rollouts and
evaluations split over workers.

``ray`` is imported only inside the functions that use it: reading a sweep file, or a
report, needs no Ray.
"""

from robopref.sweep.spec import SweepError, SweepRun, SweepSpec, load_sweep, parse_sweep

__all__ = ["SweepError", "SweepRun", "SweepSpec", "load_sweep", "parse_sweep"]
