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

The writers (VCF, BED, TSV, parquet) are kept apart from the computation.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from pathlib import Path

import msprime
import numpy as np
import pandas as pd
import pysam
import scipy.linalg

from twasnet.errors import InputError

__all__ = [
    "ANNOTATION_COLUMNS",
    "PRESETS",
    "causal_log_weight",
    "nonlinear_log_weight",
    "simulate_cohort",
]

ANNOTATION_COLUMNS = (
    "promoter",
    "enhancer",
    "coding",
    "tf_binding",
    "open_chromatin",
    "conservation",
    "cadd_like",
)
# Log-enrichment per standard deviation of each annotation for being causal, at informativeness 1.
_ANNOTATION_LOG_ENRICHMENT = np.array([0.2, 0.15, 0.1, 0.12, 0.08, 0.25, 0.1])
# Log-enrichment per standard deviation for carrying a gene's nonlinear (dominance / epistatic)
# component, at nonlinear informativeness 1: only enhancers and TF binding sites (a variant in
# either, z ~ 5-6, is ~3-4x as likely per mark at 1, ~40-90x at 3), nothing else.
_NONLINEAR_LOG_ENRICHMENT = np.array([0.0, 0.25, 0.0, 0.25, 0.0, 0.0, 0.0])
_NONLINEAR_KINDS = ("dominance", "epistasis", "threshold")
# A nonlinear component whose kurtosis exceeds this is carried by a few individuals (a Gaussian has
# 3, a 10%/90% indicator about 7): it is dropped rather than standardised into outliers.
_MAX_KURTOSIS = 8.0


def causal_log_weight(
    annotation_z: np.ndarray,
    relative_distance: np.ndarray,
    *,
    annotation_informativeness: float,
    tss_proximity: float,
) -> np.ndarray:
    """Log-weight (p,), up to a constant, with which each candidate variant (biallelic SNV with
    MAF >= ``causal_min_maf``) is drawn causal: ``annotation_z`` (p, 7) the variants' annotations
    in :data:`ANNOTATION_COLUMNS` order standardised over the chromosome, ``relative_distance``
    (p,) ``|pos - tss| / window_bp``."""
    enrichment = np.asarray(annotation_z, dtype=np.float64) @ _ANNOTATION_LOG_ENRICHMENT
    return annotation_informativeness * enrichment - tss_proximity * np.asarray(relative_distance)


def nonlinear_log_weight(
    annotation_z: np.ndarray,
    relative_distance: np.ndarray,
    *,
    nonlinear_annotation_informativeness: float,
    tss_proximity: float,
) -> np.ndarray:
    """Log-weight (p,), up to a constant, with which each candidate variant (biallelic SNV with
    MAF >= ``causal_min_maf``, not an additive causal one) is drawn to carry a gene's dominance or
    epistatic component when ``nonlinear_annotation_informativeness`` > 0; arguments as in
    :func:`causal_log_weight`. Candidates whose effect would sit on a handful of individuals are
    then skipped, which depends on allele frequency only, not on annotations."""
    enrichment = np.asarray(annotation_z, dtype=np.float64) @ _NONLINEAR_LOG_ENRICHMENT
    return nonlinear_annotation_informativeness * enrichment - tss_proximity * np.asarray(
        relative_distance
    )


PRESETS: dict[str, dict] = {
    "demo": {
        "seed": 20240601,
        "n_individuals": 600,
        # 24 genes (~14 selected) keep `make demo` under 15 min on 2 cores with seven models: with
        # 50 (28 selected) and eight the training alone took ~31 core-minutes (2026-12-01); the
        # scenario presets below set their own count
        "n_genes": 24,
        "n_chromosomes": 2,
        "chromosome_length_bp": 10_000_000,
        "window_bp": 250_000,
        "nonlinear_share": 0.3,
        "nonlinear_kinds": ",".join(_NONLINEAR_KINDS),
        "annotation_informativeness": 1.0,
        "nonlinear_annotation_informativeness": 0.0,
        "h2_null_fraction": 0.4,
        "h2_min": 0.02,
        "h2_max": 0.5,
        "h2_beta_a": 1.2,
        "h2_beta_b": 2.5,
        "causal_min": 1,
        "causal_max": 5,
        "causal_min_maf": 0.05,
        "tss_proximity": 3.0,
        "covariate_share": 0.25,
        "n_genotype_pcs": 5,
        "n_hidden_factors": 3,
        "population_size": 10_000,
        "recombination_rate": 1e-8,
        "mutation_rate": 1.25e-8,
        "indels_per_chromosome": 12,
        "missing_calls_per_chromosome": 40,
        "expression_dropout_fraction": 0.02,
    },
}
# Parameters of the optional target cohort (`twasnet simulate --target N`), with their defaults.
TARGET_PARAMETERS = {
    "n_target": 0,
    "target_causal_genes": 3,
    "target_phenotype_h2": 0.3,
    "target_binary": False,
    "target_prevalence": 0.3,
}
# The tests' cohort: the demo's model, scaled down, with stronger signal so few genes suffice.
# Capability scenarios (README, "Scenarios"): the demo's cohort with only the genetic architecture
# changed. "linear": additive effects, causal variants unrelated to annotations. "nonlinear": most
# of each gene's h² recessive (minor-allele homozygotes) or epistatic (pairwise product), and
# causal variants strongly enriched in annotated variants.
PRESETS["linear"] = PRESETS["demo"] | {
    "n_genes": 80,
    "h2_null_fraction": 0.25,
    "nonlinear_share": 0.0,
    "annotation_informativeness": 0.0,
}
PRESETS["nonlinear"] = PRESETS["linear"] | {
    "nonlinear_share": 0.7,
    "nonlinear_kinds": "dominance,epistasis",
    "annotation_informativeness": 2.0,
}
# "nonlinear_annotated": as "nonlinear", but annotations say nothing about the additive causal
# variants and instead mark (strongly) the variants that act recessively or interact.
PRESETS["nonlinear_annotated"] = PRESETS["nonlinear"] | {
    "annotation_informativeness": 0.0,
    "nonlinear_annotation_informativeness": 3.0,
}
# Annotations can only improve a sparse model when the data alone cannot find the causal
# variants: many small additive effects per gene, strongly enriched in annotated variants.
PRESETS["annotated"] = PRESETS["linear"] | {
    "causal_min": 10,
    "causal_max": 30,
    "annotation_informativeness": 3.0,
}
PRESETS["tiny"] = PRESETS["demo"] | {
    "seed": 7,
    "n_individuals": 120,
    "n_genes": 8,
    "chromosome_length_bp": 1_000_000,
    "window_bp": 100_000,
    "h2_null_fraction": 0.25,
    "h2_min": 0.2,
    "h2_max": 0.6,
    "indels_per_chromosome": 8,
    "missing_calls_per_chromosome": 20,
}


# ----------------------------------------------------------------------------------------------
# Data holders
# ----------------------------------------------------------------------------------------------


@dataclass
class _Chromosome:
    """One simulated chromosome. ``hap`` is (n_records, 2 * n_total) int8 allele indices."""

    name: str
    length: int
    pos: np.ndarray  # (n_records,) int64, 1-based, strictly increasing
    ref: np.ndarray  # (n_records,) object
    alt: np.ndarray  # (n_records,) object, comma-joined for multi-allelic records
    rsid: np.ndarray  # (n_records,) object
    hap: np.ndarray  # (n_records, 2 * n_total) int8
    is_indel: np.ndarray  # (n_records,) bool
    snv: np.ndarray  # (n_snv,) int64 record indices of biallelic SNVs
    dosage: np.ndarray  # (n_snv, n_total) int8 ALT dosage of biallelic SNVs
    maf: np.ndarray  # (n_snv,) float MAF among genotyped individuals
    annotations: np.ndarray  # (n_snv, len(ANNOTATION_COLUMNS)) float64
    missing: np.ndarray  # (n_missing, 2) int64 (record index, individual index) written as ./.


@dataclass
class _Gene:
    gene_id: str
    chrom: int  # index into the chromosome list
    tss: int
    h2: float
    h2_linear: float
    h2_nonlinear: float
    covariate_share: float
    causal: np.ndarray  # (n_causal,) indices into the chromosome's SNV arrays
    beta: np.ndarray  # (n_causal,) per-allele additive effect on the genetic-value scale
    variant_kinds: list[str]  # per causal variant, e.g. "additive+dominance"
    kinds: list[str]  # gene-level effect kinds
    genetic_value: np.ndarray  # (n_total,)
    expression: np.ndarray  # (n_total,) unstandardised


# ----------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------


def simulate_cohort(
    *,
    out_dir: str | Path,
    seed: int,
    n_individuals: int,
    n_genes: int,
    n_chromosomes: int,
    chromosome_length_bp: int,
    window_bp: int,
    nonlinear_share: float,
    annotation_informativeness: float,
    h2_null_fraction: float,
    nonlinear_kinds: str = ",".join(_NONLINEAR_KINDS),
    nonlinear_annotation_informativeness: float = 0.0,
    h2_min: float = 0.02,
    h2_max: float = 0.5,
    h2_beta_a: float = 1.2,
    h2_beta_b: float = 2.5,
    causal_min: int = 1,
    causal_max: int = 5,
    causal_min_maf: float = 0.05,
    tss_proximity: float = 3.0,
    covariate_share: float = 0.25,
    n_genotype_pcs: int = 5,
    n_hidden_factors: int = 3,
    population_size: float = 10_000,
    recombination_rate: float = 1e-8,
    mutation_rate: float = 1.25e-8,
    indels_per_chromosome: int = 12,
    missing_calls_per_chromosome: int = 40,
    expression_dropout_fraction: float = 0.02,
    n_target: int = 0,
    target_causal_genes: int = 3,
    target_phenotype_h2: float = 0.3,
    target_binary: bool = False,
    target_prevalence: float = 0.3,
) -> dict[str, str]:
    """Simulate a cohort and write it under ``out_dir``; return the written paths.

    Returned keys: genotypes (a template with ``{chrom}``:
    ``<out>/genotypes/chr{chrom}.vcf.gz``), expression, covariates, annotations, truth_genes,
    truth_variants, truth_genetic_values, simulation (the parameters as JSON) and chromosomes
    (``"1,2"``). With ``n_target`` > 0, also an independent target cohort of that many other
    individuals of the same coalescent simulation (see :func:`_write_target_cohort`): keys
    target_genotypes, target_phenotype, target_covariates, target_truth.
    """
    params = {k: v for k, v in locals().items() if k != "out_dir"}
    _check_params(params)
    out = Path(out_dir)
    (out / "genotypes").mkdir(parents=True, exist_ok=True)

    seeds = np.random.SeedSequence(seed).spawn(4 + 2 * n_chromosomes)
    rng_genes = np.random.default_rng(seeds[0])
    rng_covar = np.random.default_rng(seeds[1])
    rng_samples = np.random.default_rng(seeds[3])

    n_total = n_individuals + 1  # one extra individual has expression but no genotypes
    n_total += int(n_target)  # the target cohort's individuals come last
    genes_per_chrom = _split_evenly(n_genes, n_chromosomes)
    tss_per_chrom = [
        _place_tss(genes_per_chrom[c], chromosome_length_bp, window_bp, rng_genes)
        for c in range(n_chromosomes)
    ]

    chroms = []
    for c in range(n_chromosomes):
        ts_seeds = [_msprime_seed(s) for s in seeds[4 + 2 * c].spawn(2)]
        rng_chrom = np.random.default_rng(seeds[5 + 2 * c])
        ts = msprime.sim_ancestry(
            samples=n_total,
            ploidy=2,
            population_size=population_size,
            recombination_rate=recombination_rate,
            sequence_length=chromosome_length_bp,
            random_seed=ts_seeds[0],
        )
        ts = msprime.sim_mutations(
            ts, rate=mutation_rate, model=msprime.JC69(), random_seed=ts_seeds[1]
        )
        chroms.append(
            _build_chromosome(
                ts,
                name=f"chr{c + 1}",
                chrom_index=c,
                n_genotyped=n_individuals,
                tss=tss_per_chrom[c],
                n_indels=indels_per_chromosome,
                n_missing=missing_calls_per_chromosome,
                rng=rng_chrom,
            )
        )

    covariates, covariate_names = _simulate_covariates(
        chroms,
        n_pcs=n_genotype_pcs,
        n_hidden=n_hidden_factors,
        rng=rng_covar,
    )
    genes = _simulate_genes(
        chroms,
        tss_per_chrom,
        covariates=covariates,
        window_bp=window_bp,
        nonlinear_share=nonlinear_share,
        nonlinear_kinds=_kinds(nonlinear_kinds),
        annotation_informativeness=annotation_informativeness,
        nonlinear_annotation_informativeness=nonlinear_annotation_informativeness,
        h2_null_fraction=h2_null_fraction,
        h2_range=(h2_min, h2_max),
        h2_beta=(h2_beta_a, h2_beta_b),
        causal_range=(causal_min, causal_max),
        causal_min_maf=causal_min_maf,
        tss_proximity=tss_proximity,
        covariate_share=covariate_share,
        seed=seeds[2],
    )

    width = max(4, len(str(n_total)))
    sample_ids = np.array([f"GTEX-S{i + 1:0{width}d}" for i in range(n_total)], dtype=object)
    n_drop = int(round(expression_dropout_fraction * n_individuals))
    dropped = rng_samples.choice(n_individuals, size=n_drop, replace=False)
    # sorted; includes the extra individual, never a target individual
    expr_idx = np.setdiff1d(np.arange(n_individuals + 1), dropped)

    paths = {
        "genotypes": str(out / "genotypes" / "chr{chrom}.vcf.gz"),
        "expression": str(out / "expression.bed.gz"),
        "covariates": str(out / "covariates.tsv"),
        "annotations": str(out / "annotations.parquet"),
        "truth_genes": str(out / "truth_genes.tsv"),
        "truth_variants": str(out / "truth_variants.tsv.gz"),
        "truth_genetic_values": str(out / "truth_genetic_values.tsv.gz"),
        "simulation": str(out / "simulation.json"),
        "chromosomes": ",".join(str(c + 1) for c in range(n_chromosomes)),
    }
    for c, chrom in enumerate(chroms):
        _write_vcf(
            paths["genotypes"].format(chrom=c + 1), chrom, sample_ids=sample_ids[:n_individuals]
        )
    _write_expression(paths["expression"], genes, chroms, sample_ids=sample_ids, keep=expr_idx)
    _write_covariates(
        paths["covariates"], covariates, covariate_names, sample_ids=sample_ids, keep=expr_idx
    )
    _write_annotations(paths["annotations"], chroms, rng=rng_samples)
    _write_truth_genes(paths["truth_genes"], genes, chroms, window_bp=window_bp)
    _write_truth_variants(paths["truth_variants"], genes, chroms, window_bp=window_bp)
    _write_genetic_values(paths["truth_genetic_values"], genes, sample_ids=sample_ids)
    if n_target:
        paths |= _write_target_cohort(
            out / "target",
            chroms,
            genes,
            covariates=covariates,
            covariate_names=covariate_names,
            first=n_individuals + 1,
            n_causal_genes=target_causal_genes,
            phenotype_h2=target_phenotype_h2,
            binary=target_binary,
            prevalence=target_prevalence,
            seed=np.random.SeedSequence([seed, 0x7A59E7]),
        )
    summary = {
        "generator": "twasnet.simulate",
        "parameters": params,
        "h2_definition": "Var(G) / (Var(G) + Var(noise)), covariate-adjusted scale, in-sample",
        "msprime_version": msprime.__version__,
        "chromosomes": {
            ch.name: {
                "length_bp": ch.length,
                "n_records": int(ch.pos.size),
                "n_biallelic_snv": int(ch.snv.size),
                "n_multiallelic": int(sum("," in a for a in ch.alt)),
                "n_indel": int(ch.is_indel.sum()),
                "n_missing_calls": int(ch.missing.shape[0]),
            }
            for ch in chroms
        },
        "samples": {
            "genotyped": n_individuals,
            "expression": int(expr_idx.size),
            "expression_without_genotypes": [str(sample_ids[-1])],
            "genotyped_without_expression": sorted(str(s) for s in sample_ids[dropped]),
        },
    }
    Path(paths["simulation"]).write_text(json.dumps(summary, indent=2) + "\n")
    return paths


# ----------------------------------------------------------------------------------------------
# Computation
# ----------------------------------------------------------------------------------------------


def _check_params(p: dict) -> None:
    def bad(name: str, why: str) -> None:
        raise InputError(
            f"simulate_cohort: parameter {name}={p[name]!r} {why}; change it in the preset or on "
            "the command line."
        )

    for name in ("n_individuals", "n_genes", "n_chromosomes", "chromosome_length_bp", "window_bp"):
        if int(p[name]) < 1:
            bad(name, "must be a positive integer")
    if p["n_individuals"] < 20:
        bad("n_individuals", "must be at least 20")
    for name in ("nonlinear_share", "h2_null_fraction", "expression_dropout_fraction"):
        if not 0.0 <= float(p[name]) <= 1.0:
            bad(name, "must lie in [0, 1]")
    if not 0.0 <= p["covariate_share"] < 1.0:
        bad("covariate_share", "must lie in [0, 1)")
    if not 0.0 <= p["h2_min"] <= p["h2_max"] < 1.0:
        bad("h2_max", f"must satisfy 0 <= h2_min ({p['h2_min']}) <= h2_max < 1")
    if not 1 <= p["causal_min"] <= p["causal_max"]:
        bad("causal_max", f"must satisfy 1 <= causal_min ({p['causal_min']}) <= causal_max")
    if not 0.0 < p["causal_min_maf"] <= 0.5:
        bad("causal_min_maf", "must lie in (0, 0.5]")
    unknown = set(_kinds(p["nonlinear_kinds"])) - set(_NONLINEAR_KINDS)
    if unknown or not _kinds(p["nonlinear_kinds"]):
        bad("nonlinear_kinds", f"must be a comma-separated subset of {','.join(_NONLINEAR_KINDS)}")
    for name in (
        "annotation_informativeness",
        "nonlinear_annotation_informativeness",
        "tss_proximity",
    ):
        if p[name] < 0:
            bad(name, "must be >= 0")
    if p["window_bp"] >= p["chromosome_length_bp"]:
        bad("window_bp", f"must be smaller than chromosome_length_bp ({p['chromosome_length_bp']})")
    for name in (
        "n_genotype_pcs",
        "n_hidden_factors",
        "indels_per_chromosome",
        "missing_calls_per_chromosome",
    ):
        if int(p[name]) < 0:
            bad(name, "must be >= 0")


def _kinds(value: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in str(value).split(",") if k.strip())


def _msprime_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint32)[0]) % (2**31 - 2) + 1


def _split_evenly(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _place_tss(n: int, length: int, window_bp: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) sorted distinct 1-based TSS positions, evenly spread with jitter, away from the ends."""
    margin = min(window_bp, length // 10)
    spacing = (length - 2 * margin) / max(n, 1)
    centres = margin + spacing * (np.arange(n) + 0.5)
    tss = centres + rng.uniform(-0.3, 0.3, n) * spacing
    return np.unique(np.clip(np.round(tss), 1, length).astype(np.int64))


def _build_chromosome(
    ts,
    *,
    name: str,
    chrom_index: int,
    n_genotyped: int,
    tss: np.ndarray,
    n_indels: int,
    n_missing: int,
    rng: np.random.Generator,
) -> _Chromosome:
    """Turn a tree sequence into VCF records (+ injected indels) and SNV dosages/annotations."""
    length = int(ts.sequence_length)
    n_sites = ts.num_sites
    hap = np.empty((n_sites, ts.num_samples), dtype=np.int8)
    refs, alts = [], []
    for i, var in enumerate(ts.variants(copy=False)):
        hap[i] = var.genotypes
        alleles = var.alleles
        refs.append(alleles[0])
        alts.append(",".join(alleles[1:]))
    pos = ts.tables.sites.position.astype(np.int64) + 1  # tskit is 0-based; VCF is 1-based

    # Indels at free positions, genotypes in Hardy-Weinberg at a random frequency.
    free = np.setdiff1d(rng.integers(1, length - 4, size=4 * n_indels + 8), pos)
    indel_pos = np.sort(rng.permutation(free)[:n_indels])
    k = indel_pos.size
    bases = np.array(list("ACGT"))
    first = bases[rng.integers(0, 4, k)]
    extra = ["".join(bases[rng.integers(0, 4, rng.integers(1, 4))]) for _ in range(k)]
    insertion = rng.random(k) < 0.5
    indel_ref = np.array(
        [f if ins else f + e for f, e, ins in zip(first, extra, insertion, strict=True)],
        dtype=object,
    )
    indel_alt = np.array(
        [f + e if ins else f for f, e, ins in zip(first, extra, insertion, strict=True)],
        dtype=object,
    )
    freq = rng.uniform(0.02, 0.5, k)
    indel_hap = (rng.random((k, ts.num_samples)) < freq[:, None]).astype(np.int8)

    all_pos = np.concatenate([pos, indel_pos])
    order = np.argsort(all_pos, kind="stable")
    all_pos = all_pos[order]
    ref = np.concatenate([np.array(refs, dtype=object), indel_ref])[order]
    alt = np.concatenate([np.array(alts, dtype=object), indel_alt])[order]
    is_indel = np.concatenate([np.zeros(n_sites, bool), np.ones(k, bool)])[order]
    hap = np.concatenate([hap, indel_hap])[order]
    n_rec = all_pos.size

    # rsid-like identifiers, unique, "." for ~8% of records.
    rs = (chrom_index + 1) * 10**9 + np.cumsum(rng.integers(1, 5000, n_rec))
    rsid = np.array([f"rs{v}" for v in rs[rng.permutation(n_rec)]], dtype=object)
    rsid[rng.random(n_rec) < 0.08] = "."

    is_snv2 = np.array(
        [
            (not ind) and len(r) == 1 and len(a) == 1
            for r, a, ind in zip(ref, alt, is_indel, strict=True)
        ],
        dtype=bool,
    )
    snv = np.flatnonzero(is_snv2)
    dosage = hap[snv, 0::2] + hap[snv, 1::2]
    af = dosage[:, :n_genotyped].mean(axis=1, dtype=np.float64) / 2.0
    maf = np.minimum(af, 1.0 - af)

    missing = np.column_stack(
        [rng.integers(0, n_rec, n_missing), rng.integers(0, n_genotyped, n_missing)]
    ).astype(np.int64)
    missing = np.unique(missing, axis=0)

    annotations = _simulate_annotations(all_pos[snv], tss=tss, length=length, rng=rng)
    return _Chromosome(
        name=name,
        length=length,
        pos=all_pos,
        ref=ref,
        alt=alt,
        rsid=rsid,
        hap=hap,
        is_indel=is_indel,
        snv=snv,
        dosage=dosage,
        maf=maf,
        annotations=annotations,
        missing=missing,
    )


def _in_intervals(pos: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(n,) bool: pos inside any closed interval [start, end]."""
    if starts.size == 0:
        return np.zeros(pos.size, bool)
    order = np.argsort(starts)
    starts, ends = starts[order], np.maximum.accumulate(ends[order])
    idx = np.searchsorted(starts, pos, side="right") - 1
    return (idx >= 0) & (pos <= ends[np.maximum(idx, 0)])


def _simulate_annotations(
    pos: np.ndarray, *, tss: np.ndarray, length: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_snv, 7) annotations in ANNOTATION_COLUMNS order, correlated as functional marks are.

    Promoters sit at gene TSSs (the simulated genes plus unsimulated ones), coding exons in gene
    bodies, enhancers cluster near TSSs; open chromatin and TF binding are enriched in promoters and
    enhancers; conservation has a smooth regional part plus coding/regulatory boosts; the CADD-like
    score follows conservation and coding.
    """
    n = pos.size
    n_other = max(2, length // 200_000)
    all_tss = np.concatenate([tss, rng.integers(1, length, n_other)])
    strand = rng.choice([-1, 1], all_tss.size)
    prom_lo = np.where(strand > 0, all_tss - 2000, all_tss - 500)
    prom_hi = np.where(strand > 0, all_tss + 500, all_tss + 2000)
    promoter = _in_intervals(pos, prom_lo, prom_hi)

    ex_starts, ex_ends = [], []
    for t, s in zip(all_tss, strand, strict=True):
        body = rng.integers(10_000, 100_000)
        n_ex = rng.integers(4, 13)
        offs = np.sort(rng.integers(0, body, n_ex))
        lens = rng.integers(80, 250, n_ex)
        starts = t + s * offs - (lens if s < 0 else 0)
        ex_starts.append(starts)
        ex_ends.append(starts + lens)
    coding = _in_intervals(pos, np.concatenate(ex_starts), np.concatenate(ex_ends))

    n_enh = max(4, int(0.04 * length / 1500))
    near = rng.random(n_enh) < 0.5
    centres = np.where(
        near,
        rng.choice(all_tss, n_enh) + rng.normal(0, 30_000, n_enh),
        rng.uniform(1, length, n_enh),
    )
    half = rng.integers(150, 1500, n_enh)
    enhancer = _in_intervals(pos, centres - half, centres + half) & ~coding

    p_open = np.clip(0.03 + 0.6 * promoter + 0.45 * enhancer, 0, 0.95)
    open_chromatin = rng.random(n) < p_open
    p_tf = 0.01 + 0.25 * promoter + 0.15 * enhancer + 0.1 * open_chromatin
    tf_binding = rng.random(n) < p_tf

    knots = np.arange(0, length + 20_000, 20_000)
    regional = np.interp(pos, knots, rng.normal(0, 0.6, knots.size))
    conservation = (
        regional
        + rng.normal(0, 1, n)
        + 2.0 * coding
        + 0.5 * promoter
        + 0.3 * enhancer
        + 0.3 * tf_binding
    )
    cadd_like = np.clip(
        3.0
        + 2.0 * conservation
        + 8.0 * coding
        + 1.5 * tf_binding
        + 1.0 * promoter
        + rng.gamma(1.5, 1.5, n),
        0.0,
        60.0,
    )
    return np.column_stack(
        [promoter, enhancer, coding, tf_binding, open_chromatin, conservation, cadd_like]
    ).astype(np.float64)


def _simulate_covariates(
    chroms: list[_Chromosome], *, n_pcs: int, n_hidden: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[str]]:
    """(n_total, n_pcs + n_hidden + 1) covariates: genotype PCs, hidden factors, sex (0/1)."""
    blocks = []
    n_per = 5000 // max(len(chroms), 1)
    for ch in chroms:
        common = np.flatnonzero(ch.maf >= 0.05)
        pick = np.sort(rng.choice(common, size=min(n_per, common.size), replace=False))
        blocks.append(ch.dosage[pick].T.astype(np.float64))
    x = np.concatenate(blocks, axis=1)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    u, _, vt = scipy.linalg.svd(x, full_matrices=False)
    k = min(n_pcs, u.shape[1])
    pcs = u[:, :k] * np.sqrt(x.shape[0])
    flip = np.sign(vt[np.arange(k), np.abs(vt[:k]).argmax(axis=1)])  # deterministic sign
    pcs = pcs * flip
    hidden = rng.standard_normal((x.shape[0], n_hidden))
    sex = (rng.random(x.shape[0]) < 0.5).astype(np.float64)[:, None]
    names = (
        [f"PC{i + 1}" for i in range(k)]
        + [f"InferredCov{i + 1}" for i in range(n_hidden)]
        + ["sex"]
    )
    return np.concatenate([pcs, hidden, sex], axis=1), names


def _standardise(v: np.ndarray) -> np.ndarray:
    sd = v.std()
    return (v - v.mean()) / sd if sd > 0 else np.zeros_like(v, dtype=np.float64)


def _viable_residual(f: np.ndarray, design: np.ndarray) -> np.ndarray | None:
    """``f`` residualised on ``design`` and standardised; None when the residual is degenerate or
    carried by a handful of individuals (kurtosis > _MAX_KURTOSIS)."""
    f = f.astype(np.float64)
    coef, *_ = scipy.linalg.lstsq(design, f)
    resid = f - design @ coef
    if resid.std() < 1e-6 * max(f.std(), 1e-12):
        return None
    z = _standardise(resid)
    if np.mean(z**4) > _MAX_KURTOSIS:
        return None
    return z


def _nonlinear_design(x: np.ndarray, k: int, cols: set[int]) -> np.ndarray:
    """[1, the k causal columns of ``x``, the nonlinear-only columns among ``cols``]."""
    extra = sorted(c for c in cols if c >= k)
    if not extra:
        return np.column_stack([np.ones(x.shape[0]), x[:, :k]])
    return np.column_stack([np.ones(x.shape[0]), x[:, :k], x[:, extra]])


def _nonlinear_feature(x: np.ndarray, kind: str, cols: tuple[int, ...]) -> np.ndarray:
    """Raw dominance feature (recessive indicator of the minor allele of column ``cols[0]``) or
    epistasis feature (product of the centred dosages of columns ``cols[0]`` and ``cols[1]``)."""
    if kind == "dominance":
        j = cols[0]
        return x[:, j] == (2 if x[:, j].mean() / 2.0 <= 0.5 else 0)
    j, m = cols
    return (x[:, j] - x[:, j].mean()) * (x[:, m] - x[:, m].mean())


def _common_sources(x: np.ndarray) -> dict[str, tuple[int, ...]]:
    """Default carriers among causal dosages ``x`` (n, k): the most common variant (dominance),
    the two most common (epistasis)."""
    af = x.mean(axis=0) / 2.0
    by_maf = np.argsort(-np.minimum(af, 1.0 - af), kind="stable")
    sources = {"dominance": (int(by_maf[0]),)}
    if x.shape[1] >= 2:
        sources["epistasis"] = (int(by_maf[0]), int(by_maf[1]))
    return sources


def _nonlinear_part(
    x: np.ndarray,
    beta: np.ndarray,
    *,
    rng: np.random.Generator,
    kinds: tuple[str, ...] = _NONLINEAR_KINDS,
    sources: dict[str, tuple[int, ...]] | None = None,
) -> tuple[np.ndarray, list[str], list[set[int]]]:
    """Nonlinear genetic component, orthogonal to [1, causal dosages, its carriers' dosages].

    ``x`` (n, k + q): the k = ``beta.size`` causal dosages, then q dosages of nonlinear-only
    variants. Candidate kinds: dominance (recessive effect of the minor allele of one variant),
    epistasis (product of the centred dosages of two variants), threshold (only individuals in the
    top quarter of the additive score respond), restricted to ``kinds``. ``sources`` maps
    dominance / epistasis to the columns of ``x`` carrying them (a kind it lacks is no candidate);
    None: the most common causal variant(s). Each candidate is residualised on [1, causal, its own
    columns]; candidates whose residual is degenerate or driven by a handful of individuals
    (kurtosis > _MAX_KURTOSIS, e.g. a recessive effect of a rare allele) are dropped, then one or
    two of the rest are summed and residualised on [1, causal, their columns]. Returns the
    standardised component (n,) (zeros if none is viable), its kinds and, per kind, the columns
    of ``x`` involved.
    """
    n, k = x.shape[0], beta.size
    if sources is None:
        sources = _common_sources(x[:, :k])
    candidates = {kd: (_nonlinear_feature(x, kd, cols), set(cols)) for kd, cols in sources.items()}
    score = x[:, :k] @ np.abs(beta)
    candidates["threshold"] = (score > np.quantile(score, 0.75), set(range(k)))

    viable = []
    for kind in _NONLINEAR_KINDS:
        if kind not in candidates or kind not in kinds:
            continue
        f, cols = candidates[kind]
        z = _viable_residual(f, _nonlinear_design(x, k, cols))
        if z is not None:
            viable.append((kind, z, cols))
    if not viable:
        return np.zeros(n), [], []
    n_pick = min(len(viable), 1 + int(rng.random() < 0.4))
    picked = [viable[i] for i in sorted(rng.choice(len(viable), size=n_pick, replace=False))]
    total = np.sum([z for _, z, _ in picked], axis=0)
    design = _nonlinear_design(x, k, set().union(*(cols for _, _, cols in picked)))
    coef, *_ = scipy.linalg.lstsq(design, total)
    return (
        _standardise(total - design @ coef),
        [kind for kind, _, _ in picked],
        [cols for _, _, cols in picked],
    )


def _first_viable_carriers(
    x_add: np.ndarray, x_cand: np.ndarray, kinds: tuple[str, ...]
) -> dict[str, tuple[int, ...]]:
    """Columns of ``x_cand`` (visited in order) carrying dominance (the first whose recessive
    indicator is viable) and epistasis (the first pair, by its later member, whose product is
    viable), judged as in :func:`_nonlinear_part` on [1, ``x_add``, their own dosages]."""
    k = x_add.shape[1]
    full = np.column_stack([x_add, x_cand])

    def viable(kind: str, cols: tuple[int, ...]) -> bool:
        shifted = tuple(k + c for c in cols)
        f = _nonlinear_feature(full, kind, shifted)
        return _viable_residual(f, _nonlinear_design(full, k, set(shifted))) is not None

    q = x_cand.shape[1]
    found: dict[str, tuple[int, ...]] = {}
    if "dominance" in kinds:
        hit = next((a for a in range(q) if viable("dominance", (a,))), None)
        if hit is not None:
            found["dominance"] = (hit,)
    if "epistasis" in kinds:
        pairs = ((a, b) for b in range(1, q) for a in range(b))
        hit = next((p for p in pairs if viable("epistasis", p)), None)
        if hit is not None:
            found["epistasis"] = hit
    return found


def _annotated_carriers(
    ch: _Chromosome,
    z: np.ndarray,
    pool: np.ndarray,
    x_add: np.ndarray,
    tss: int,
    *,
    window_bp: int,
    informativeness: float,
    tss_proximity: float,
    kinds: tuple[str, ...],
    rng: np.random.Generator,
    max_tries: int = 64,
) -> tuple[np.ndarray, dict[str, tuple[int, ...]]]:
    """Nonlinear-only carriers drawn from ``pool`` (SNV indices: window candidates that are not
    additive causal) with weights exp(:func:`nonlinear_log_weight`): the pool is ordered by a draw
    without replacement ∝ the weights (Gumbel top-k) and the first ``max_tries`` are visited by
    :func:`_first_viable_carriers`. Returns the carriers' SNV indices (sorted) and the sources for
    :func:`_nonlinear_part`, as columns ``x_add.shape[1] + position in that array``."""
    if pool.size == 0:
        return np.zeros(0, np.int64), {}
    logit = nonlinear_log_weight(
        z[pool],
        np.abs(ch.pos[ch.snv[pool]] - tss) / window_bp,
        nonlinear_annotation_informativeness=informativeness,
        tss_proximity=tss_proximity,
    )
    order = pool[np.argsort(-(logit + rng.gumbel(size=pool.size)), kind="stable")[:max_tries]]
    found = _first_viable_carriers(x_add, ch.dosage[order].T.astype(np.float64), kinds)
    carriers = np.unique([order[c] for cols in found.values() for c in cols]).astype(np.int64)
    k = x_add.shape[1]
    column = {int(v): k + i for i, v in enumerate(carriers)}
    sources = {kd: tuple(column[int(order[c])] for c in cols) for kd, cols in found.items()}
    return carriers, sources


def _gene_architecture(
    ch: _Chromosome,
    z: np.ndarray,
    cand: np.ndarray,
    tss: int,
    *,
    h2: float,
    rngs: tuple[np.random.Generator, np.random.Generator, np.random.Generator],
    window_bp: int,
    nonlinear_share: float,
    nonlinear_kinds: tuple[str, ...],
    annotation_informativeness: float,
    nonlinear_annotation_informativeness: float,
    causal_range: tuple[int, int],
    tss_proximity: float,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str], np.ndarray, float]:
    """A heritable gene's causal variants (sorted SNV indices, additive then nonlinear-only
    ones), their per-allele additive effects (0 for nonlinear-only ones), per-variant and gene
    effect kinds, genetic value (n_total,) and the nonlinear share actually used. ``cand``: the
    window's SNVs with MAF >= causal_min_maf; ``rngs``: causal, nonlinear and carrier streams."""
    rng_causal, rng_nl, rng_carriers = rngs
    rel = np.abs(ch.pos[ch.snv[cand]] - tss) / window_bp
    logit = causal_log_weight(
        z[cand],
        rel,
        annotation_informativeness=annotation_informativeness,
        tss_proximity=tss_proximity,
    )
    w = np.exp(logit - logit.max())
    n_causal = min(int(rng_causal.integers(causal_range[0], causal_range[1] + 1)), cand.size)
    causal = np.sort(rng_causal.choice(cand, size=n_causal, replace=False, p=w / w.sum()))
    x = ch.dosage[causal].T.astype(np.float64)  # (n_total, n_causal)
    b = rng_causal.normal(0, 1, n_causal)
    lin = x @ b
    lin_sd = lin.std()
    share = nonlinear_share
    nl, nl_kinds, nl_cols = np.zeros(x.shape[0]), [], []
    carriers = np.zeros(0, np.int64)
    if share > 0:
        sources = None
        if nonlinear_annotation_informativeness > 0:
            carriers, sources = _annotated_carriers(
                ch,
                z,
                np.setdiff1d(cand, causal),
                x,
                tss,
                window_bp=window_bp,
                informativeness=nonlinear_annotation_informativeness,
                tss_proximity=tss_proximity,
                kinds=nonlinear_kinds,
                rng=rng_carriers,
            )
            x = np.column_stack([x, ch.dosage[carriers].T.astype(np.float64)])
        nl, nl_kinds, nl_cols = _nonlinear_part(
            x, b, rng=rng_nl, kinds=nonlinear_kinds, sources=sources
        )
        if not nl_kinds:
            share = 0.0
    if lin_sd == 0:  # cannot happen for MAF >= causal_min_maf, kept for safety
        share = 1.0 if nl_kinds else 0.0
    scale = np.sqrt(h2 * (1 - share)) / lin_sd if lin_sd > 0 else 0.0
    g = (lin - lin.mean()) * scale + np.sqrt(h2 * share) * nl
    kinds = (["additive"] if share < 1 else []) + nl_kinds
    variants, beta, variant_kinds = _causal_table(
        causal, carriers, b * scale, nl_kinds, nl_cols, additive=share < 1
    )
    return variants, beta, variant_kinds, kinds, g, share


def _causal_table(
    causal: np.ndarray,
    carriers: np.ndarray,
    beta: np.ndarray,
    nl_kinds: list[str],
    nl_cols: list[set[int]],
    *,
    additive: bool,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The gene's causal variants sorted by SNV index, their additive effects and effect kinds
    ("additive", "additive+dominance", ... for the additive causal variants ``causal``, whose
    effects are ``beta``; "dominance", "epistasis", "dominance+epistasis" with effect 0 for the
    nonlinear-only ``carriers``, columns ``causal.size + i`` in ``nl_cols``). A carrier that no
    picked kind uses is not causal."""
    k = causal.size
    keep, variant_kinds = [], []
    for j in range(k + carriers.size):
        parts = ["additive"] if additive and j < k else []
        parts += [kd for kd, cols in zip(nl_kinds, nl_cols, strict=True) if j in cols]
        if j < k or parts:
            keep.append(j)
            variant_kinds.append("+".join(parts) if parts else "none")
    variants = np.concatenate([causal, carriers])[keep]
    effects = np.concatenate([beta, np.zeros(carriers.size)])[keep]
    order = np.argsort(variants, kind="stable")
    return variants[order], effects[order], [variant_kinds[i] for i in order]


def _simulate_genes(
    chroms: list[_Chromosome],
    tss_per_chrom: list[np.ndarray],
    *,
    covariates: np.ndarray,
    h2_null_fraction: float,
    h2_range: tuple[float, float],
    h2_beta: tuple[float, float],
    causal_min_maf: float,
    covariate_share: float,
    seed: np.random.SeedSequence,
    **model,
) -> list[_Gene]:
    """Per gene: h², causal variants, genetic value (n_total,) and raw expression (n_total,).

    ``model``: the keyword arguments of :func:`_gene_architecture` other than h2 and rngs. Each
    gene draws from its own random streams (causal variants / nonlinear part / noise and covariate
    effects / nonlinear-only carriers), so with one seed, changing nonlinear_share or the
    informativeness parameters leaves h², noise and (for nonlinear_share and
    nonlinear_annotation_informativeness) the additive causal variants and their draws unchanged.
    """
    n_genes = sum(t.size for t in tss_per_chrom)
    seed_h2, seed_genes = seed.spawn(2)
    gene_seeds = seed_genes.spawn(n_genes)
    rng = np.random.default_rng(seed_h2)
    h2 = h2_range[0] + (h2_range[1] - h2_range[0]) * rng.beta(*h2_beta, n_genes)
    n_null = int(round(h2_null_fraction * n_genes))
    h2[rng.choice(n_genes, size=n_null, replace=False)] = 0.0
    sd = np.where(covariates.std(axis=0) > 0, covariates.std(axis=0), 1.0)
    cov_std = (covariates - covariates.mean(axis=0)) / sd
    n_cov = cov_std.shape[1]
    zscores = []
    for ch in chroms:
        a = ch.annotations
        sd = a.std(axis=0)
        zscores.append((a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0))

    genes: list[_Gene] = []
    gi = 0
    for c, tss_arr in enumerate(tss_per_chrom):
        ch = chroms[c]
        snv_pos = ch.pos[ch.snv]
        for tss in tss_arr:
            g_h2 = float(h2[gi])
            gene_id = f"ENSG{gi + 1:011d}.1"
            # the first three children are what spawn(3) gave before the fourth was added
            rng_causal, rng_nl, rng_expr, rng_carriers = (
                np.random.default_rng(s) for s in gene_seeds[gi].spawn(4)
            )
            gi += 1
            n_total = ch.dosage.shape[1]
            arch = (np.zeros(0, np.int64), np.zeros(0), [], [], np.zeros(n_total), 0.0)
            cand = np.flatnonzero(
                (np.abs(snv_pos - tss) <= model["window_bp"]) & (ch.maf >= causal_min_maf)
            )
            if g_h2 > 0 and cand.size == 0:
                g_h2 = 0.0
            if g_h2 > 0:
                rngs = (rng_causal, rng_nl, rng_carriers)
                arch = _gene_architecture(
                    ch, zscores[c], cand, int(tss), h2=g_h2, rngs=rngs, **model
                )
            causal, beta, variant_kinds, kinds, g, share = arch
            noise = _standardise(rng_expr.standard_normal(n_total)) * np.sqrt(1 - g_h2)
            share_c = float(np.clip(covariate_share + rng_expr.uniform(-0.05, 0.05), 0.0, 0.95))
            gamma = rng_expr.normal(0, 1, n_cov)
            gamma[-1] *= 0.7  # sex
            cov = _standardise(cov_std @ gamma) * np.sqrt(share_c / (1 - share_c))
            genes.append(
                _Gene(
                    gene_id=gene_id,
                    chrom=c,
                    tss=int(tss),
                    h2=g_h2,
                    h2_linear=g_h2 * (1 - share),
                    h2_nonlinear=g_h2 * share,
                    covariate_share=share_c,
                    causal=causal,
                    beta=beta,
                    variant_kinds=variant_kinds,
                    kinds=kinds,
                    genetic_value=g,
                    expression=g + cov + noise,
                )
            )
    return genes


# ----------------------------------------------------------------------------------------------
# Writers
# ----------------------------------------------------------------------------------------------


def _write_bgzf(path: str | Path, chunks) -> None:
    """Write byte chunks to a BGZF file (deterministic: no timestamps)."""
    with pysam.BGZFile(str(path), "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)


def _vcf_chunks(ch: _Chromosome, sample_ids: np.ndarray, chunk: int = 2048):
    n_ind = sample_ids.size
    header = [
        "##fileformat=VCFv4.2",
        "##source=twasnet.simulate (msprime coalescent)",
        f"##contig=<ID={ch.name},length={ch.length}>",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"])
        + "\t"
        + "\t".join(sample_ids),
    ]
    yield ("\n".join(header) + "\n").encode()
    miss_rows = ch.missing[:, 0]
    for lo in range(0, ch.pos.size, chunk):
        hi = min(lo + chunk, ch.pos.size)
        h = ch.hap[lo:hi, : 2 * n_ind]
        arr = np.empty((hi - lo, n_ind, 4), dtype=np.uint8)
        arr[:, :, 0] = 48 + h[:, 0::2]
        arr[:, :, 1] = ord("|")
        arr[:, :, 2] = 48 + h[:, 1::2]
        arr[:, :, 3] = ord("\t")
        arr[:, -1, 3] = ord("\n")
        sel = (miss_rows >= lo) & (miss_rows < hi)
        r, i = ch.missing[sel, 0] - lo, ch.missing[sel, 1]
        arr[r, i, 0], arr[r, i, 1], arr[r, i, 2] = ord("."), ord("/"), ord(".")
        lines = [
            f"{ch.name}\t{ch.pos[k]}\t{ch.rsid[k]}\t{ch.ref[k]}\t{ch.alt[k]}\t.\tPASS\t.\tGT\t".encode()
            + arr[k - lo].tobytes()
            for k in range(lo, hi)
        ]
        yield b"".join(lines)


def _write_vcf(path: str, ch: _Chromosome, *, sample_ids: np.ndarray) -> None:
    """Bgzipped VCF with phased GT (``./.`` for injected missing calls) and a tabix index."""
    if int(ch.hap.max()) > 9:
        raise RuntimeError(f"{path}: a site has more than 10 alleles; cannot format GT")
    _write_bgzf(path, _vcf_chunks(ch, sample_ids))
    pysam.tabix_index(path, preset="vcf", force=True)


def _tsv_bytes(df: pd.DataFrame, float_format: str = "%.6f") -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, sep="\t", index=False, float_format=float_format, lineterminator="\n")
    return buf.getvalue().encode()


def _write_expression(
    path: str,
    genes: list[_Gene],
    chroms: list[_Chromosome],
    *,
    sample_ids: np.ndarray,
    keep: np.ndarray,
) -> None:
    """GTEx v8 / tensorQTL BED: #chr, start (TSS - 1), end (TSS), gene_id, one column per sample."""
    values = np.array([_standardise(g.expression[keep]) for g in genes])
    df = pd.DataFrame(values, columns=list(sample_ids[keep]))
    df.insert(0, "gene_id", [g.gene_id for g in genes])
    df.insert(0, "end", [g.tss for g in genes])
    df.insert(0, "start", [g.tss - 1 for g in genes])
    df.insert(0, "#chr", [chroms[g.chrom].name for g in genes])
    order = np.lexsort((df["start"].to_numpy(), [g.chrom for g in genes]))
    _write_bgzf(path, [_tsv_bytes(df.iloc[order])])
    pysam.tabix_index(path, preset="bed", force=True)


def _write_covariates(
    path: str, covariates: np.ndarray, names: list[str], *, sample_ids: np.ndarray, keep: np.ndarray
) -> None:
    """GTEx covariates layout: column ``ID`` with covariate names, one column per sample."""
    lines = ["\t".join(["ID", *sample_ids[keep]])]
    for name, row in zip(names, covariates[keep].T, strict=True):
        cells = [str(int(v)) for v in row] if name == "sex" else [f"{v:.6f}" for v in row]
        lines.append("\t".join([name, *cells]))
    Path(path).write_text("\n".join(lines) + "\n")


def _write_annotations(path: str, chroms: list[_Chromosome], *, rng: np.random.Generator) -> None:
    """Parquet, one row per biallelic SNV (a few left out on purpose) with ANNOTATION_COLUMNS."""
    frames = []
    for ch in chroms:
        n = ch.snv.size
        n_drop = min(n, max(3, int(round(0.002 * n))))
        keep = np.setdiff1d(np.arange(n), rng.choice(n, size=n_drop, replace=False))
        rec = ch.snv[keep]
        df = pd.DataFrame(
            {
                "chrom": pd.Series([ch.name] * keep.size, dtype="string"),
                "pos": ch.pos[rec].astype(np.int64),
                "ref": pd.Series(ch.ref[rec], dtype="string"),
                "alt": pd.Series(ch.alt[rec], dtype="string"),
            }
        )
        for j, col in enumerate(ANNOTATION_COLUMNS):
            v = ch.annotations[keep, j]
            df[col] = v.astype(np.int8) if j < 5 else np.round(v, 4)
        frames.append(df)
    pd.concat(frames, ignore_index=True).to_parquet(path, index=False)


def _write_truth_genes(
    path: str, genes: list[_Gene], chroms: list[_Chromosome], *, window_bp: int
) -> None:
    rows = []
    for g in genes:
        ch = chroms[g.chrom]
        in_win = np.abs(ch.pos[ch.snv] - g.tss) <= window_bp
        rows.append(
            {
                "gene_id": g.gene_id,
                "chrom": ch.name,
                "tss": g.tss,
                "h2_total": g.h2,
                "h2_linear": g.h2_linear,
                "h2_nonlinear": g.h2_nonlinear,
                "n_causal": int(g.causal.size),
                "effect_kinds": ",".join(g.kinds) if g.kinds else "none",
                "covariate_share": g.covariate_share,
                "window_start": max(1, g.tss - window_bp),
                "window_end": min(ch.length, g.tss + window_bp),
                "n_snv_maf01_in_window": int((in_win & (ch.maf >= 0.01)).sum()),
            }
        )
    Path(path).write_bytes(_tsv_bytes(pd.DataFrame(rows)))


def _write_truth_variants(
    path: str, genes: list[_Gene], chroms: list[_Chromosome], *, window_bp: int
) -> None:
    """Per gene: every biallelic SNV with MAF >= 0.01 in the window plus all causal ones."""
    frames = []
    for g in genes:
        ch = chroms[g.chrom]
        snv_pos = ch.pos[ch.snv]
        rows = np.flatnonzero((np.abs(snv_pos - g.tss) <= window_bp) & (ch.maf >= 0.01))
        rows = np.union1d(rows, g.causal)
        causal = np.isin(rows, g.causal)
        kind = np.full(rows.size, "none", dtype=object)
        beta = np.zeros(rows.size)
        where = np.searchsorted(rows, g.causal)
        kind[where] = g.variant_kinds
        beta[where] = g.beta
        rec = ch.snv[rows]
        frames.append(
            pd.DataFrame(
                {
                    "chrom": ch.name,
                    "pos": ch.pos[rec],
                    "ref": ch.ref[rec],
                    "alt": ch.alt[rec],
                    "gene_id": g.gene_id,
                    "causal": causal.astype(np.int8),
                    "effect_kind": kind,
                    "beta": beta,
                    "maf": ch.maf[rows],
                }
            )
        )
    _write_bgzf(path, [_tsv_bytes(pd.concat(frames, ignore_index=True), float_format="%.6g")])


def _write_genetic_values(path: str, genes: list[_Gene], *, sample_ids: np.ndarray) -> None:
    """True genetic values: gene_id then one column per simulated individual."""
    df = pd.DataFrame(np.array([g.genetic_value for g in genes]), columns=list(sample_ids))
    df.insert(0, "gene_id", [g.gene_id for g in genes])
    _write_bgzf(path, [_tsv_bytes(df)])


# ----------------------------------------------------------------------------------------------
# Target cohort (stage 2)
# ----------------------------------------------------------------------------------------------


def _write_target_cohort(
    out: Path,
    chroms: list[_Chromosome],
    genes: list[_Gene],
    *,
    covariates: np.ndarray,
    covariate_names: list[str],
    first: int,
    n_causal_genes: int,
    phenotype_h2: float,
    binary: bool,
    prevalence: float,
    seed: np.random.SeedSequence,
) -> dict[str, str]:
    """Write the target cohort: individuals ``first`` onwards of the simulation (same coalescent,
    none of them in the eQTL cohort), their genotypes (same records), covariates, and a phenotype
    driven by the genetically regulated expression (the genetic value) of ``n_causal_genes``
    heritable genes: Σ_g a_g G_g, scaled to explain ``phenotype_h2`` of its variance, plus 10% from
    PC1 and sex, plus noise; ``binary`` thresholds it at ``prevalence``. Truth: which genes, a_g."""
    if not 0.0 < phenotype_h2 < 0.9:
        raise InputError(f"target_phenotype_h2={phenotype_h2} must lie in (0, 0.9)")
    rng = np.random.default_rng(seed)
    idx = np.arange(first, covariates.shape[0])
    ids = np.array([f"TGT-S{i + 1:05d}" for i in range(idx.size)], dtype=object)
    heritable = [g for g in genes if g.h2 > 0]
    k = min(int(n_causal_genes), len(heritable))
    causal = [heritable[i] for i in sorted(rng.choice(len(heritable), size=k, replace=False))]
    effects = rng.choice([-1.0, 1.0], k) * rng.uniform(0.6, 1.0, k)
    grex = np.array([_standardise(g.genetic_value[idx]) for g in causal]).reshape(k, idx.size)
    signal = _standardise(effects @ grex) if k else np.zeros(idx.size)
    cov_part = _standardise(covariates[idx, 0] + 0.5 * covariates[idx, -1])
    liability = (
        np.sqrt(phenotype_h2) * signal
        + np.sqrt(0.1) * cov_part
        + np.sqrt(0.9 - phenotype_h2) * _standardise(rng.standard_normal(idx.size))
    )
    phenotype = liability
    if binary:
        phenotype = (liability > np.quantile(liability, 1.0 - prevalence)).astype(np.float64)
    paths = {
        "target_genotypes": str(out / "genotypes" / "chr{chrom}.vcf.gz"),
        "target_phenotype": str(out / "phenotype.tsv"),
        "target_covariates": str(out / "covariates.tsv"),
        "target_truth": str(out / "truth_phenotype_genes.tsv"),
    }
    (out / "genotypes").mkdir(parents=True, exist_ok=True)
    haplotypes = np.column_stack([2 * idx, 2 * idx + 1]).ravel()
    for c, ch in enumerate(chroms):
        target = replace(ch, hap=ch.hap[:, haplotypes], missing=np.zeros((0, 2), np.int64))
        _write_vcf(paths["target_genotypes"].format(chrom=c + 1), target, sample_ids=ids)
    table = pd.DataFrame({"sample": ids, "phenotype": phenotype})
    Path(paths["target_phenotype"]).write_bytes(
        _tsv_bytes(table, float_format="%.0f" if binary else "%.6f")
    )
    _write_covariates(
        paths["target_covariates"],
        covariates[idx],
        covariate_names,
        sample_ids=ids,
        keep=np.arange(idx.size),
    )
    effect = dict(zip((g.gene_id for g in causal), effects, strict=True))
    truth = pd.DataFrame(
        {
            "gene_id": [g.gene_id for g in genes],
            "h2_expression": [g.h2 for g in genes],
            "causal": [int(g.gene_id in effect) for g in genes],
            "effect": [effect.get(g.gene_id, 0.0) for g in genes],
        }
    )
    Path(paths["target_truth"]).write_bytes(_tsv_bytes(truth))
    return paths
