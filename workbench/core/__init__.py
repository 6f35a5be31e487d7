"""Core: the dataset model, input validation, chunked passes, atomic writes and previews.

The bottom layer: it imports nothing else from the package.
"""
