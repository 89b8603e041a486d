"""Genotypes: one msprime tree sequence per chromosome, turned into VCF records.

The coalescent with recombination gives real LD and allele-frequency spectra; on top of its sites
each chromosome gets injected indels (Hardy-Weinberg genotypes at a random frequency), rsid-like
identifiers ("." for ~8%) and missing calls, and its biallelic SNVs their dosages, MAF and
annotations (:func:`twasnet.simulate.annotations.simulate_annotations`).
"""

from __future__ import annotations

from dataclasses import dataclass

import msprime
import numpy as np

from twasnet.simulate.annotations import simulate_annotations
from twasnet.simulate.params import SimulationParameters

__all__ = ["Chromosome", "place_genes", "simulate_chromosome"]


@dataclass
class Chromosome:
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


def _split_evenly(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _place_tss(n: int, length: int, window_bp: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) sorted distinct 1-based TSS positions, evenly spread with jitter, away from the ends."""
    margin = min(window_bp, length // 10)
    spacing = (length - 2 * margin) / max(n, 1)
    centres = margin + spacing * (np.arange(n) + 0.5)
    tss = centres + rng.uniform(-0.3, 0.3, n) * spacing
    return np.unique(np.clip(np.round(tss), 1, length).astype(np.int64))


def place_genes(params: SimulationParameters, rng: np.random.Generator) -> list[np.ndarray]:
    """Per chromosome, the (n_c,) sorted TSS positions of its genes (n_genes split evenly)."""
    per_chrom = _split_evenly(params.n_genes, params.n_chromosomes)
    return [_place_tss(n, params.chromosome_length_bp, params.window_bp, rng) for n in per_chrom]


def _msprime_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint32)[0]) % (2**31 - 2) + 1


def simulate_chromosome(
    params: SimulationParameters,
    index: int,
    tss: np.ndarray,
    *,
    n_total: int,
    seeds: tuple[np.random.SeedSequence, np.random.SeedSequence],
) -> Chromosome:
    """Chromosome ``index`` (0-based; named ``chr{index + 1}``) of ``n_total`` diploid
    individuals, the first ``n_individuals`` genotyped: the coalescent (from ``seeds[0]``), then
    indels, identifiers, missing calls and annotations around the genes' ``tss`` (from
    ``seeds[1]``)."""
    ts_seeds = [_msprime_seed(s) for s in seeds[0].spawn(2)]
    ts = msprime.sim_ancestry(
        samples=n_total,
        ploidy=2,
        population_size=params.population_size,
        recombination_rate=params.recombination_rate,
        sequence_length=params.chromosome_length_bp,
        random_seed=ts_seeds[0],
    )
    ts = msprime.sim_mutations(
        ts, rate=params.mutation_rate, model=msprime.JC69(), random_seed=ts_seeds[1]
    )
    return build_chromosome(
        ts,
        name=f"chr{index + 1}",
        chrom_index=index,
        n_genotyped=params.n_individuals,
        tss=tss,
        n_indels=params.indels_per_chromosome,
        n_missing=params.missing_calls_per_chromosome,
        rng=np.random.default_rng(seeds[1]),
    )


def _tree_records(ts) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tree sequence's sites: 1-based positions (n_sites,), REF and comma-joined ALT alleles
    (n_sites,) object, haplotype allele indices (n_sites, n_haplotypes) int8."""
    hap = np.empty((ts.num_sites, ts.num_samples), dtype=np.int8)
    refs, alts = [], []
    for i, var in enumerate(ts.variants(copy=False)):
        hap[i] = var.genotypes
        alleles = var.alleles
        refs.append(alleles[0])
        alts.append(",".join(alleles[1:]))
    pos = ts.tables.sites.position.astype(np.int64) + 1  # tskit is 0-based; VCF is 1-based
    return pos, np.array(refs, dtype=object), np.array(alts, dtype=object), hap


def _indels(
    taken: np.ndarray, length: int, n_indels: int, n_haplotypes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``n_indels`` indels at positions not in ``taken``, half insertions, half deletions
    of 1-3 bases, genotypes in Hardy-Weinberg at a frequency in [0.02, 0.5): sorted positions
    (k,), REF and ALT (k,) object, haplotypes (k, n_haplotypes) int8."""
    free = np.setdiff1d(rng.integers(1, length - 4, size=4 * n_indels + 8), taken)
    pos = np.sort(rng.permutation(free)[:n_indels])
    k = pos.size
    bases = np.array(list("ACGT"))
    first = bases[rng.integers(0, 4, k)]
    extra = ["".join(bases[rng.integers(0, 4, rng.integers(1, 4))]) for _ in range(k)]
    insertion = rng.random(k) < 0.5
    ref = np.array(
        [f if ins else f + e for f, e, ins in zip(first, extra, insertion, strict=True)],
        dtype=object,
    )
    alt = np.array(
        [f + e if ins else f for f, e, ins in zip(first, extra, insertion, strict=True)],
        dtype=object,
    )
    freq = rng.uniform(0.02, 0.5, k)
    hap = (rng.random((k, n_haplotypes)) < freq[:, None]).astype(np.int8)
    return pos, ref, alt, hap


def _rsids(chrom_index: int, n_rec: int, rng: np.random.Generator) -> np.ndarray:
    """(n_rec,) object: unique rsid-like identifiers in shuffled order, "." for ~8% of them."""
    rs = (chrom_index + 1) * 10**9 + np.cumsum(rng.integers(1, 5000, n_rec))
    rsid = np.array([f"rs{v}" for v in rs[rng.permutation(n_rec)]], dtype=object)
    rsid[rng.random(n_rec) < 0.08] = "."
    return rsid


def _missing_calls(
    n_rec: int, n_genotyped: int, n_missing: int, rng: np.random.Generator
) -> np.ndarray:
    """(<= n_missing, 2) int64 distinct (record, genotyped individual) pairs, sorted."""
    missing = np.column_stack(
        [rng.integers(0, n_rec, n_missing), rng.integers(0, n_genotyped, n_missing)]
    ).astype(np.int64)
    return np.unique(missing, axis=0)


def build_chromosome(
    ts,
    *,
    name: str,
    chrom_index: int,
    n_genotyped: int,
    tss: np.ndarray,
    n_indels: int,
    n_missing: int,
    rng: np.random.Generator,
) -> Chromosome:
    """Turn a tree sequence into VCF records (+ injected indels) and SNV dosages/annotations."""
    length = int(ts.sequence_length)
    site_pos, site_ref, site_alt, site_hap = _tree_records(ts)
    indel = _indels(site_pos, length, n_indels, ts.num_samples, rng)
    order = np.argsort(np.concatenate([site_pos, indel[0]]), kind="stable")
    pos, ref, alt, hap = (
        np.concatenate(parts)[order]
        for parts in zip((site_pos, site_ref, site_alt, site_hap), indel, strict=True)
    )
    is_indel = np.concatenate([np.zeros(site_pos.size, bool), np.ones(indel[0].size, bool)])
    is_indel = is_indel[order]
    rsid = _rsids(chrom_index, pos.size, rng)

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
    missing = _missing_calls(pos.size, n_genotyped, n_missing, rng)
    annotations = simulate_annotations(pos[snv], tss=tss, length=length, rng=rng)
    return Chromosome(
        name=name,
        length=length,
        pos=pos,
        ref=ref,
        alt=alt,
        rsid=rsid,
        hap=hap,
        is_indel=is_indel,
        snv=snv,
        dosage=dosage,
        maf=np.minimum(af, 1.0 - af),
        annotations=annotations,
        missing=missing,
    )
