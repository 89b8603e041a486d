"""Traits: covariates, per-gene genetic architectures and expression, the target phenotype.

Per gene (the model is stated in :mod:`twasnet.simulate`): h², additive causal variants drawn
with weights exp(:func:`~twasnet.simulate.annotations.causal_log_weight`), a nonlinear part
(dominance / epistasis / threshold, optionally carried by other, annotated variants: weights
exp(:func:`~twasnet.simulate.annotations.nonlinear_log_weight`)) residualised on the causal
dosages, covariate effects and noise. Every gene draws from its own random streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from twasnet.simulate.annotations import (
    causal_log_weight,
    nonlinear_log_weight,
    standardise_columns,
)
from twasnet.simulate.genotypes import Chromosome
from twasnet.simulate.params import NONLINEAR_KINDS, SimulationParameters

__all__ = ["Gene", "simulate_covariates", "simulate_genes", "standardise", "target_phenotype"]

# A nonlinear component whose kurtosis exceeds this is carried by a few individuals (a Gaussian has
# 3, a 10%/90% indicator about 7): it is dropped rather than standardised into outliers.
_MAX_KURTOSIS = 8.0


@dataclass
class Gene:
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


def standardise(v: np.ndarray) -> np.ndarray:
    """(n,) centred and scaled to sd 1; zeros when ``v`` is constant."""
    sd = v.std()
    return (v - v.mean()) / sd if sd > 0 else np.zeros_like(v, dtype=np.float64)


def simulate_covariates(
    chroms: list[Chromosome], *, n_pcs: int, n_hidden: int, rng: np.random.Generator
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


# ----------------------------------------------------------------------------------------------
# The nonlinear part of a gene's genetic value
# ----------------------------------------------------------------------------------------------


def _viable_residual(f: np.ndarray, design: np.ndarray) -> np.ndarray | None:
    """``f`` (n,) residualised on ``design`` (n, q) and standardised; None when the residual is
    degenerate or carried by a handful of individuals (kurtosis > _MAX_KURTOSIS)."""
    f = f.astype(np.float64)
    coef, *_ = scipy.linalg.lstsq(design, f)
    resid = f - design @ coef
    if resid.std() < 1e-6 * max(f.std(), 1e-12):
        return None
    z = standardise(resid)
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
    """(n,) raw dominance feature (recessive indicator of the minor allele of column ``cols[0]``)
    or epistasis feature (product of the centred dosages of columns ``cols[0]`` and ``cols[1]``)."""
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
    kinds: tuple[str, ...] = NONLINEAR_KINDS,
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
    for kind in NONLINEAR_KINDS:
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
        standardise(total - design @ coef),
        [kind for kind, _, _ in picked],
        [cols for _, _, cols in picked],
    )


def _first_viable_carriers(
    x_add: np.ndarray, x_cand: np.ndarray, kinds: tuple[str, ...]
) -> dict[str, tuple[int, ...]]:
    """Columns of ``x_cand`` (n, q) (visited in order) carrying dominance (the first whose
    recessive indicator is viable) and epistasis (the first pair, by its later member, whose
    product is viable), judged as in :func:`_nonlinear_part` on [1, ``x_add`` (n, k), their own
    dosages]."""
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
    ch: Chromosome,
    z: np.ndarray,
    pool: np.ndarray,
    x_add: np.ndarray,
    tss: int,
    *,
    params: SimulationParameters,
    rng: np.random.Generator,
    max_tries: int = 64,
) -> tuple[np.ndarray, dict[str, tuple[int, ...]]]:
    """Nonlinear-only carriers drawn from ``pool`` (SNV indices: window candidates that are not
    additive causal) with weights exp(:func:`nonlinear_log_weight`): the pool is ordered by a draw
    without replacement ∝ the weights (Gumbel top-k) and the first ``max_tries`` are visited by
    :func:`_first_viable_carriers`. ``z`` (n_snv, 7): the chromosome's standardised annotations;
    ``x_add`` (n, k): the causal dosages. Returns the carriers' SNV indices (sorted) and the
    sources for :func:`_nonlinear_part`, as columns ``k + position in that array``."""
    if pool.size == 0:
        return np.zeros(0, np.int64), {}
    logit = nonlinear_log_weight(
        z[pool],
        np.abs(ch.pos[ch.snv[pool]] - tss) / params.window_bp,
        nonlinear_annotation_informativeness=params.nonlinear_annotation_informativeness,
        tss_proximity=params.tss_proximity,
    )
    order = pool[np.argsort(-(logit + rng.gumbel(size=pool.size)), kind="stable")[:max_tries]]
    found = _first_viable_carriers(
        x_add, ch.dosage[order].T.astype(np.float64), params.nonlinear_kind_tuple
    )
    carriers = np.unique([order[c] for cols in found.values() for c in cols]).astype(np.int64)
    k = x_add.shape[1]
    column = {int(v): k + i for i, v in enumerate(carriers)}
    sources = {kd: tuple(column[int(order[c])] for c in cols) for kd, cols in found.items()}
    return carriers, sources


# ----------------------------------------------------------------------------------------------
# Genes
# ----------------------------------------------------------------------------------------------


def _draw_causal(
    ch: Chromosome,
    z: np.ndarray,
    cand: np.ndarray,
    tss: int,
    params: SimulationParameters,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Additive causal variants among ``cand`` (SNV indices) drawn with weights
    exp(:func:`causal_log_weight`): their sorted SNV indices (k,), dosages (n_total, k) float64
    and raw effects (k,) ~ N(0, 1)."""
    rel = np.abs(ch.pos[ch.snv[cand]] - tss) / params.window_bp
    logit = causal_log_weight(
        z[cand],
        rel,
        annotation_informativeness=params.annotation_informativeness,
        tss_proximity=params.tss_proximity,
    )
    w = np.exp(logit - logit.max())
    n_causal = min(int(rng.integers(params.causal_min, params.causal_max + 1)), cand.size)
    causal = np.sort(rng.choice(cand, size=n_causal, replace=False, p=w / w.sum()))
    x = ch.dosage[causal].T.astype(np.float64)  # (n_total, n_causal)
    return causal, x, rng.normal(0, 1, n_causal)


def _gene_architecture(
    ch: Chromosome,
    z: np.ndarray,
    cand: np.ndarray,
    tss: int,
    *,
    h2: float,
    params: SimulationParameters,
    rngs: tuple[np.random.Generator, np.random.Generator, np.random.Generator],
) -> tuple[np.ndarray, np.ndarray, list[str], list[str], np.ndarray, float]:
    """A heritable gene's causal variants (sorted SNV indices, additive then nonlinear-only
    ones), their per-allele additive effects (0 for nonlinear-only ones), per-variant and gene
    effect kinds, genetic value (n_total,) and the nonlinear share actually used. ``z`` (n_snv, 7):
    the chromosome's standardised annotations; ``cand``: the window's SNVs with MAF >=
    causal_min_maf; ``rngs``: causal, nonlinear and carrier streams."""
    rng_causal, rng_nl, rng_carriers = rngs
    causal, x, b = _draw_causal(ch, z, cand, tss, params, rng_causal)
    lin = x @ b
    lin_sd = lin.std()
    share = params.nonlinear_share
    nl, nl_kinds, nl_cols = np.zeros(x.shape[0]), [], []
    carriers = np.zeros(0, np.int64)
    if share > 0:
        sources = None
        if params.nonlinear_annotation_informativeness > 0:
            pool = np.setdiff1d(cand, causal)
            carriers, sources = _annotated_carriers(
                ch, z, pool, x, tss, params=params, rng=rng_carriers
            )
            x = np.column_stack([x, ch.dosage[carriers].T.astype(np.float64)])
        nl, nl_kinds, nl_cols = _nonlinear_part(
            x, b, rng=rng_nl, kinds=params.nonlinear_kind_tuple, sources=sources
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


def _simulate_gene(
    gene_id: str,
    chroms: list[Chromosome],
    chrom: int,
    tss: int,
    *,
    h2: float,
    z: np.ndarray,
    cov_std: np.ndarray,
    params: SimulationParameters,
    seed: np.random.SeedSequence,
) -> Gene:
    """One gene of ``chroms[chrom]`` with TSS ``tss`` and drawn ``h2``: its architecture (if
    heritable and the window has candidates), covariate effects on ``cov_std`` (n_total, n_cov)
    and noise. ``z`` (n_snv, 7): the chromosome's standardised annotations."""
    # the first three children are what spawn(3) gave before the fourth was added
    rng_causal, rng_nl, rng_expr, rng_carriers = (np.random.default_rng(s) for s in seed.spawn(4))
    ch = chroms[chrom]
    n_total = ch.dosage.shape[1]
    arch = (np.zeros(0, np.int64), np.zeros(0), [], [], np.zeros(n_total), 0.0)
    near = np.abs(ch.pos[ch.snv] - tss) <= params.window_bp
    cand = np.flatnonzero(near & (ch.maf >= params.causal_min_maf))
    if h2 > 0 and cand.size == 0:
        h2 = 0.0
    if h2 > 0:
        rngs = (rng_causal, rng_nl, rng_carriers)
        arch = _gene_architecture(ch, z, cand, tss, h2=h2, params=params, rngs=rngs)
    causal, beta, variant_kinds, kinds, g, share = arch
    noise = standardise(rng_expr.standard_normal(n_total)) * np.sqrt(1 - h2)
    share_c = float(np.clip(params.covariate_share + rng_expr.uniform(-0.05, 0.05), 0.0, 0.95))
    gamma = rng_expr.normal(0, 1, cov_std.shape[1])
    gamma[-1] *= 0.7  # sex
    cov = standardise(cov_std @ gamma) * np.sqrt(share_c / (1 - share_c))
    return Gene(
        gene_id=gene_id,
        chrom=chrom,
        tss=tss,
        h2=h2,
        h2_linear=h2 * (1 - share),
        h2_nonlinear=h2 * share,
        covariate_share=share_c,
        causal=causal,
        beta=beta,
        variant_kinds=variant_kinds,
        kinds=kinds,
        genetic_value=g,
        expression=g + cov + noise,
    )


def simulate_genes(
    chroms: list[Chromosome],
    tss_per_chrom: list[np.ndarray],
    *,
    covariates: np.ndarray,
    params: SimulationParameters,
    seed: np.random.SeedSequence,
) -> list[Gene]:
    """Per gene: h², causal variants, genetic value (n_total,) and raw expression (n_total,);
    ``covariates`` (n_total, n_cov).

    h2 is exactly 0 for a ``h2_null_fraction`` of genes, otherwise ``h2_min + (h2_max - h2_min) *
    Beta(h2_beta_a, h2_beta_b)``. Each gene draws from its own random streams (causal variants /
    nonlinear part / noise and covariate effects / nonlinear-only carriers), so with one seed,
    changing nonlinear_share or the informativeness parameters leaves h², noise and (for
    nonlinear_share and nonlinear_annotation_informativeness) the additive causal variants and
    their draws unchanged.
    """
    n_genes = sum(t.size for t in tss_per_chrom)
    seed_h2, seed_genes = seed.spawn(2)
    gene_seeds = seed_genes.spawn(n_genes)
    rng = np.random.default_rng(seed_h2)
    h2 = params.h2_min + (params.h2_max - params.h2_min) * rng.beta(
        params.h2_beta_a, params.h2_beta_b, n_genes
    )
    n_null = int(round(params.h2_null_fraction * n_genes))
    h2[rng.choice(n_genes, size=n_null, replace=False)] = 0.0
    cov_std = standardise_columns(covariates)
    zscores = [standardise_columns(ch.annotations) for ch in chroms]
    located = [(c, int(t)) for c, tss in enumerate(tss_per_chrom) for t in tss]
    return [
        _simulate_gene(
            f"ENSG{gi + 1:011d}.1",
            chroms,
            c,
            tss,
            h2=float(h2[gi]),
            z=zscores[c],
            cov_std=cov_std,
            params=params,
            seed=gene_seeds[gi],
        )
        for gi, (c, tss) in enumerate(located)
    ]


# ----------------------------------------------------------------------------------------------
# Target cohort (stage 2)
# ----------------------------------------------------------------------------------------------


def target_phenotype(
    genes: list[Gene],
    covariates: np.ndarray,
    individuals: np.ndarray,
    *,
    params: SimulationParameters,
    seed: np.random.SeedSequence,
) -> tuple[np.ndarray, list[Gene], np.ndarray]:
    """The target cohort's phenotype (n,) over ``individuals`` (n,) (rows of ``covariates``
    (n_total, n_cov) and of the genetic values), driven by the genetically regulated expression of
    ``target_causal_genes`` heritable genes: Σ_g a_g G_g, scaled to explain
    ``target_phenotype_h2`` of its variance, plus 10% from PC1 and sex, plus noise;
    ``target_binary`` thresholds it at ``target_prevalence``. Also returns the causal genes and
    their effects a_g (k,)."""
    h2 = params.target_phenotype_h2
    rng = np.random.default_rng(seed)
    n = individuals.size
    heritable = [g for g in genes if g.h2 > 0]
    k = min(params.target_causal_genes, len(heritable))
    causal = [heritable[i] for i in sorted(rng.choice(len(heritable), size=k, replace=False))]
    effects = rng.choice([-1.0, 1.0], k) * rng.uniform(0.6, 1.0, k)
    grex = np.array([standardise(g.genetic_value[individuals]) for g in causal]).reshape(k, n)
    signal = standardise(effects @ grex) if k else np.zeros(n)
    cov_part = standardise(covariates[individuals, 0] + 0.5 * covariates[individuals, -1])
    liability = (
        np.sqrt(h2) * signal
        + np.sqrt(0.1) * cov_part
        + np.sqrt(0.9 - h2) * standardise(rng.standard_normal(n))
    )
    if not params.target_binary:
        return liability, causal, effects
    cases = liability > np.quantile(liability, 1.0 - params.target_prevalence)
    return cases.astype(np.float64), causal, effects
