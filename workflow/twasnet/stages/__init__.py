"""The workflow's stages as plain functions over file paths: read with ``twasnet.io``,
compute with the library, write atomically with :mod:`twasnet.io.store`. Each Snakemake script
calls one stage, so every step of the workflow can be imported and tested without Snakemake.

- :mod:`.data`: the cohort's tables, its split, and the per-chromosome cis stores;
- :mod:`.selection`: which genes are trained (cis-h² per gene and split);
- :mod:`.training`: one model on a chunk of genes, and the across-gene priors;
- :mod:`.results`: the R² table, the comparison of models, figures and the setup page.
"""
