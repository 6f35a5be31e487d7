"""Analysis: the detectors and their registry, the statistics pass, matrices and metrics.

Reads a :class:`~workbench.core.dataset.Dataset`, uses the torch kernels of ``workbench.compute``;
never imports the session, the views or the audit pipeline.
"""
