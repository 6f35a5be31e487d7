"""Decisions: the log of keep / remove / relabel steps, its stores (SQLite by default,
PostgreSQL for a team, JSON / CSV / Parquet files), its file formats, and task lists for
annotation tools (:mod:`workbench.decisions.interop`)."""

from workbench.decisions.log import CarryReport, DecisionLog, MergeReport
from workbench.decisions.store import StoreError

__all__ = ["CarryReport", "DecisionLog", "MergeReport", "StoreError"]
