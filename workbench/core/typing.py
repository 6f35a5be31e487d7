"""Type aliases shared across the package.

N is the number of samples, K the number of classes, D the feature dimension, E the number of
epochs and M the number of annotators, everywhere in the package.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

#: Anything the package accepts as an array: numpy, torch tensors, pandas objects, lists.
ArrayLike = Union[np.ndarray, "torch.Tensor", "pd.Series", "pd.DataFrame", list, tuple, Any]  # noqa: F821

#: A seed or a generator; every function that draws takes one.
SeedLike = int | np.random.Generator | None
