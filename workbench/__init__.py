"""Label-noise workbench: find, understand and fix wrong labels in classification datasets."""

__version__ = "0.1.0"
