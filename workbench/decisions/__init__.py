"""Decisions: the log of keep / remove / relabel steps, its file formats and its stores."""

from workbench.decisions.log import DecisionLog, MergeReport

__all__ = ["DecisionLog", "MergeReport"]
