"""The audit pipeline: :func:`audit` (signals, detectors, matrices), its result and the static report."""

from workbench.pipeline.result import AuditResult
from workbench.pipeline.run import audit

__all__ = ["AuditResult", "audit"]
