"""The workbench's JupyterLab views: detector panel, review queue, decisions, embedding map,
matrices and trajectories, and :class:`Workbench` composing them on one linked Session.

``workbench.ui.show(dataset)`` is the one call that opens everything; every view also works
alone, on a Dataset or on a Session shared with other views.
"""

from __future__ import annotations

from workbench.ui._common import View, as_session
from workbench.ui.app import Workbench, open_workbench, show
from workbench.ui.decisions_view import DecisionsView
from workbench.ui.grid import SelectionGrid
from workbench.ui.map import EmbeddingMap
from workbench.ui.matrix import MatrixView
from workbench.ui.panel import DetectorPanel
from workbench.ui.queue import ReviewQueue
from workbench.ui.trajectories import TrajectoryView

__all__ = [
    "DecisionsView",
    "DetectorPanel",
    "EmbeddingMap",
    "MatrixView",
    "ReviewQueue",
    "SelectionGrid",
    "TrajectoryView",
    "View",
    "Workbench",
    "as_session",
    "open_workbench",
    "show",
]
