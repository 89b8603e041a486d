"""twasnet: stage 1 of TWAS — per-gene expression prediction from cis genotypes."""

__version__ = "0.1.0"
