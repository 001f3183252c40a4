"""Data sets that ship with the packages or are generated: nothing is downloaded."""

from genlab.data.digits import load_digits, to_unit_range
from genlab.data.toy2d import (
    grid_centers,
    ring_centers,
    sample_grid,
    sample_mixture,
    sample_ring,
    toy_dataset,
)

__all__ = [
    "grid_centers",
    "load_digits",
    "ring_centers",
    "sample_grid",
    "sample_mixture",
    "sample_ring",
    "to_unit_range",
    "toy_dataset",
]
