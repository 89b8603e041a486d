"""Simulate a realistic eQTL cohort and write it in twasnet's input formats.

Genotypes come from the coalescent with recombination (msprime, one independent tree sequence per
chromosome); everything else (annotations, causal variants, expression, covariates) is drawn with
numpy from one seed, so the same seed gives byte-identical files.

Model, per gene g with cis window W_g = [tss - window_bp, tss + window_bp]:

* cis-h² ``h2_total``: exactly 0 for a ``h2_null_fraction`` of genes, otherwise
  ``h2_min + (h2_max - h2_min) * Beta(h2_beta_a, h2_beta_b)``.
* causal variants (``causal_min``..``causal_max``) among biallelic SNVs in W_g with MAF >=
  ``causal_min_maf``, drawn without replacement with weights
  ``exp(annotation_informativeness * z·b - tss_proximity * |pos - tss| / window_bp)``, z the
  variant's standardised annotations, b fixed positive log-enrichments (a conditional-logistic
  model; at informativeness 1 causal variants are ~3-4x enriched in promoters, TF sites, coding
  and enhancers relative to common window variants; at 0 only TSS proximity matters).
* genetic value G = sqrt(h2 (1-s)) A + sqrt(h2 s) D, with A the additive score of the causal
  dosages and D the nonlinear part (dominance / recessive indicator, pairwise epistatic product,
  threshold on the additive score) *residualised on the causal dosages*, so D is exactly the
  variance an additive model on the causal variants cannot capture; A and D are standardised in the
  simulated sample and s = ``nonlinear_share`` (the same for every heritable gene). Hence
  h2_linear = h2 (1-s), h2_nonlinear = h2 s.
* which variants carry D: with ``nonlinear_annotation_informativeness`` 0 (default), the most
  common causal variants. With it > 0, the dominance variant and the epistatic pair are instead
  other variants of the window (SNVs with MAF >= ``causal_min_maf``, not additive causal), drawn
  with weights ``exp(nonlinear_annotation_informativeness * z·b_nl - tss_proximity * |pos - tss|
  / window_bp)`` (:func:`nonlinear_log_weight`), b_nl a fixed log-enrichment positive only on
  ``enhancer`` and ``tf_binding``; only candidates whose effect is not carried by a handful of
  individuals are kept (the same rule as below), so in practice they are common. These variants
  have no additive effect (truth: causal, effect_kind "dominance" / "epistasis", beta 0): the
  annotations then tell which variants act nonlinearly, not which are additive. The threshold
  kind still acts on the additive score of the causal variants.
* expression E = G + C + e with e scaled to variance 1 - h2 in the sample: h² is defined on the
  covariate-adjusted scale, h2 = Var(G) / (Var(G) + Var(e)). C is a linear effect of the covariates
  (genotype PCs, hidden factors, sex) explaining ~``covariate_share`` of Var(E). E is then
  standardised per gene (mean 0, sd 1) over the expression samples.

Modules: :mod:`.params` (:class:`SimulationParameters`, its checks and the presets),
:mod:`.genotypes` (msprime chromosomes, indels, missing calls), :mod:`.annotations` (functional
annotations and the causal log-weights), :mod:`.traits` (covariates, gene architectures,
expression, the target phenotype) and :mod:`.writers` (the files, kept apart from the
computation). The last three load on the first :func:`simulate_cohort` call, so importing the
presets (as the command line does) does not import msprime, scipy or pysam.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twasnet.simulate.annotations import (
    ANNOTATION_COLUMNS,
    annotated_rows,
    causal_log_weight,
    nonlinear_log_weight,
)
from twasnet.simulate.params import PRESETS, TARGET_PARAMETERS, SimulationParameters

__all__ = [
    "ANNOTATION_COLUMNS",
    "PRESETS",
    "TARGET_PARAMETERS",
    "SimulationParameters",
    "causal_log_weight",
    "nonlinear_log_weight",
    "simulate_cohort",
]


def simulate_cohort(params: SimulationParameters, *, out_dir: str | Path) -> dict[str, str]:
    """Simulate a cohort with ``params`` and write it under ``out_dir``; return the written paths.

    Returned keys: genotypes (a template with ``{chrom}``:
    ``<out>/genotypes/chr{chrom}.vcf.gz``), expression, covariates, annotations, truth_genes,
    truth_variants, truth_genetic_values, simulation (the parameters as JSON) and chromosomes
    (``"1,2"``). With ``n_target`` > 0, also an independent target cohort of that many other
    individuals of the same coalescent simulation, under ``<out>/target``
    (:func:`~twasnet.simulate.traits.target_phenotype`): keys target_genotypes, target_phenotype,
    target_covariates, target_truth.
    """
    from twasnet.simulate import genotypes, traits, writers  # msprime, scipy, pysam: on first use

    p = params
    out = Path(out_dir)
    (out / "genotypes").mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(p.seed).spawn(4 + 2 * p.n_chromosomes)
    rng_samples = np.random.default_rng(seeds[3])
    # one extra individual has expression but no genotypes; the target cohort's individuals last
    n_total = p.n_individuals + 1 + p.n_target
    tss = genotypes.place_genes(p, np.random.default_rng(seeds[0]))
    chroms = [
        genotypes.simulate_chromosome(
            p, c, tss[c], n_total=n_total, seeds=(seeds[4 + 2 * c], seeds[5 + 2 * c])
        )
        for c in range(p.n_chromosomes)
    ]
    covariates, names = traits.simulate_covariates(
        chroms,
        n_pcs=p.n_genotype_pcs,
        n_hidden=p.n_hidden_factors,
        rng=np.random.default_rng(seeds[1]),
    )
    genes = traits.simulate_genes(chroms, tss, covariates=covariates, params=p, seed=seeds[2])

    sample_ids, expressed, dropped = _samples(p, n_total, rng_samples)
    annotated = annotated_rows([ch.snv.size for ch in chroms], rng_samples)

    paths = writers.cohort_paths(out, p.n_chromosomes)
    genotyped = sample_ids[: p.n_individuals]
    for c, ch in enumerate(chroms):
        writers.write_vcf(paths["genotypes"].format(chrom=c + 1), ch, sample_ids=genotyped)
    writers.write_expression(
        paths["expression"], genes, chroms, sample_ids=sample_ids, keep=expressed
    )
    writers.write_covariates(
        paths["covariates"], covariates, names, sample_ids=sample_ids, keep=expressed
    )
    writers.write_annotations(paths["annotations"], chroms, annotated)
    writers.write_truth_genes(paths["truth_genes"], genes, chroms, window_bp=p.window_bp)
    writers.write_truth_variants(paths["truth_variants"], genes, chroms, window_bp=p.window_bp)
    writers.write_genetic_values(paths["truth_genetic_values"], genes, sample_ids=sample_ids)
    if p.n_target:
        paths |= _target_cohort(out / "target", p, chroms, genes, covariates, names)
    writers.write_summary(
        paths["simulation"], p, chroms, sample_ids=sample_ids, expressed=expressed, dropped=dropped
    )
    return paths


def _samples(
    p: SimulationParameters, n_total: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n_total`` sample ids (GTEX-S0001...), the sorted indices of those with expression
    (the genotyped ones but ``expression_dropout_fraction`` of them, plus the extra individual;
    never a target one) and the indices of the dropped ones, in draw order."""
    width = max(4, len(str(n_total)))
    sample_ids = np.array([f"GTEX-S{i + 1:0{width}d}" for i in range(n_total)], dtype=object)
    n_drop = int(round(p.expression_dropout_fraction * p.n_individuals))
    dropped = rng.choice(p.n_individuals, size=n_drop, replace=False)
    expressed = np.setdiff1d(np.arange(p.n_individuals + 1), dropped)
    return sample_ids, expressed, dropped


def _target_cohort(
    out: Path, p: SimulationParameters, chroms, genes, covariates, names
) -> dict[str, str]:
    """Draw the target phenotype of individuals ``n_individuals + 1`` onwards and write the
    target cohort under ``out``; its own stream (seed, 0x7A59E7) leaves the eQTL cohort as it is."""
    from twasnet.simulate import traits, writers

    individuals = np.arange(p.n_individuals + 1, covariates.shape[0])
    seed = np.random.SeedSequence([p.seed, 0x7A59E7])
    phenotype, causal, effects = traits.target_phenotype(
        genes, covariates, individuals, params=p, seed=seed
    )
    return writers.write_target_cohort(
        out,
        chroms,
        genes,
        covariates=covariates,
        covariate_names=names,
        individuals=individuals,
        phenotype=phenotype,
        causal=causal,
        effects=effects,
        binary=p.target_binary,
    )
