"""Label-noise simulators: seeded, validated, and honest about what they actually drew.

N samples, K classes, D feature dimensions, M annotators. Transition matrices follow the package
orientation ``T[i, j] = P(given = j | true = i)`` (rows sum to 1; cleanlab's ``noise_matrix`` is
the transpose). Every ``transition`` a simulator returns is the **realised** matrix, counted from
the labels it drew; ``expected_transition`` is the one it drew them from.

Every function takes ``seed`` (an int or a ``numpy.random.Generator``): same seed, same result.

- class-conditional: :func:`symmetric_noise`, :func:`pair_flip_noise`,
  :func:`noise_from_transition`, :func:`random_transition_matrix`;
- instance-dependent: :func:`instance_dependent_noise`;
- which samples are in the data: :func:`long_tailed`, :func:`open_set_noise`;
- several annotators: :func:`simulate_annotators`.
- label sets (multi-label): :func:`missing_labels`, :func:`extra_labels`, :func:`flip_labels`,
  :func:`cooccurrence_swaps` (:class:`NoisyLabelSets`, realised per-class rates).
"""

from workbench.noise._base import NoisyLabels, realised_transition
from workbench.noise.annotators import SimulatedAnnotators, simulate_annotators
from workbench.noise.class_conditional import (
    noise_from_transition,
    pair_flip_noise,
    random_transition_matrix,
    symmetric_noise,
)
from workbench.noise.instance import instance_dependent_noise
from workbench.noise.multilabel import (
    NoisyLabelSets,
    cooccurrence_swaps,
    extra_labels,
    flip_labels,
    missing_labels,
)
from workbench.noise.subsets import LongTailed, OpenSetNoise, long_tailed, open_set_noise

__all__ = [
    "NoisyLabels",
    "NoisyLabelSets",
    "cooccurrence_swaps",
    "extra_labels",
    "flip_labels",
    "missing_labels",
    "LongTailed",
    "OpenSetNoise",
    "SimulatedAnnotators",
    "realised_transition",
    "symmetric_noise",
    "pair_flip_noise",
    "noise_from_transition",
    "random_transition_matrix",
    "instance_dependent_noise",
    "long_tailed",
    "open_set_noise",
    "simulate_annotators",
]
