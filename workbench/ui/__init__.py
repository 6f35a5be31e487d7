"""The workbench's JupyterLab views: detector panel, review queue, decisions, map, matrices,
trajectories, and :class:`Workbench` composing them on one linked :class:`Session`.

``workbench.ui.show(dataset)`` is the one call that opens everything.
"""

from __future__ import annotations

from ._common import View, as_session

__all__ = ["View", "as_session"]
