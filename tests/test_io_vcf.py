"""Genotype reading: dosages, filters, naming, regions, formats and the errors users see."""

from __future__ import annotations

import math
import os
from fractions import Fraction

import numpy as np
import pytest
from vcf_factory import Record, random_records, write_vcf

from twasnet.errors import InputError
from twasnet.io.variants import canonical_chrom, hwe_exact_pvalues
from twasnet.io.vcf import genotype_path, read_genotypes, vcf_samples

SAMPLES = ["S1", "S2", "S3", "S4"]


def _basic_records(chrom: str = "chr1") -> list[Record]:
    return [
        Record(chrom, 100, "A", "G", ["0/0", "0/1", "1/1", "./."], id="rs100"),
        Record(chrom, 200, "C", "T", ["0|1", "1|0", "1|1", "0|0"]),
        Record(chrom, 300, "A", "G,T", ["0/1", "0/2", "1/1", "0/0"]),  # multi-allelic
        Record(chrom, 400, "AT", "A", ["0/1", "0/1", "1/1", "0/0"]),  # deletion
        Record(chrom, 500, "G", "GA", ["0/1", "0/1", "1/1", "0/0"]),  # insertion
        Record(chrom, 600, "T", "C", ["0/1", "0/0", "0/0", "0/0"], id="rs600"),
    ]


def _read(path: str, **kw):
    kw.setdefault("chrom", "1")
    kw.setdefault("samples", SAMPLES)
    kw.setdefault("maf_min", 0.0)
    kw.setdefault("missing_rate_max", 1.0)
    return read_genotypes(path, **kw)


def test_canonical_chrom_and_path_pattern():
    assert canonical_chrom("chr1") == "1"
    assert canonical_chrom("chrX") == "X"
    assert canonical_chrom("CHR22") == "22"
    assert canonical_chrom("7") == "7"
    assert genotype_path("geno/chr{chrom}.vcf.gz", "chr7") == "geno/chr7.vcf.gz"
    assert genotype_path("geno/all.vcf.gz", "7") == "geno/all.vcf.gz"


def test_gt_dosages_skips_and_imputation(tmp_path):
    path = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _basic_records())
    block = _read(path)
    v = block.variants
    assert list(v["pos"]) == [100, 200, 600]
    assert list(v["chrom"]) == ["1", "1", "1"]
    assert list(v["variant_id"]) == ["rs100", "", "rs600"]
    assert list(v["ref"]) == ["A", "C", "T"] and list(v["alt"]) == ["G", "T", "C"]
    assert block.skipped == {"multiallelic": 1, "non_snv": 2, "missing_rate": 0, "maf": 0, "hwe": 0}
    assert block.dosages.dtype == np.float32
    assert block.dosages.shape == (3, 4)
    # 0/0 -> 0, 0/1 -> 1, 1/1 -> 2, ./. -> mean of the observed (0 + 1 + 2) / 3 = 1
    np.testing.assert_allclose(block.dosages[0], [0, 1, 2, 1])
    np.testing.assert_allclose(block.dosages[1], [1, 1, 2, 0])  # phased calls
    row = v.iloc[0]
    assert row["missing_rate"] == pytest.approx(0.25)
    assert row["alt_freq"] == pytest.approx(0.5)
    assert v.iloc[2]["maf"] == pytest.approx(1 / 8)
    assert np.isnan(v["hwe_p"]).all()  # not computed without hwe_p_min
    assert v["pos"].dtype == np.int64


def test_mean_imputation_uses_observed_mean(tmp_path):
    recs = [Record("1", 10, "A", "C", ["1/1", "./.", "0/1", "1/1"])]
    block = _read(write_vcf(tmp_path / "m.vcf.gz", SAMPLES, recs))
    np.testing.assert_allclose(block.dosages[0], [2, 5 / 3, 1, 2], rtol=1e-6)
    assert block.variants["alt_freq"].iloc[0] == pytest.approx(5 / 6)
    assert block.variants["maf"].iloc[0] == pytest.approx(1 / 6)


def test_requested_sample_order_is_kept(tmp_path):
    path = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _basic_records())
    block = _read(path, samples=["S3", "S1"])
    assert block.samples == ["S3", "S1"]
    np.testing.assert_allclose(block.dosages[:, 0], [2, 2, 0])
    np.testing.assert_allclose(block.dosages[:, 1], [0, 1, 1])


def test_ds_used_when_configured_and_present(tmp_path):
    recs = [
        Record("1", 10, "A", "G", ["0/0", "0/1", "1/1", "./."], ds=[0.1, 0.9, 1.8, None]),
        Record("1", 20, "A", "G", ["0/0", "0/1", "1/1", "0/1"]),  # DS "." everywhere -> GT
        Record("1", 30, "A", "G", ["1/1", "0/1", "0/0", "0/0"], ds=[None, 0.5, 0.0, 0.2]),
    ]
    path = write_vcf(tmp_path / "ds.vcf.gz", SAMPLES, recs)
    block = _read(path, dosage_field="DS")
    mean = (0.1 + 0.9 + 1.8) / 3  # S4: neither DS nor GT -> mean imputed
    np.testing.assert_allclose(block.dosages[0], [0.1, 0.9, 1.8, mean], rtol=1e-5)
    np.testing.assert_allclose(block.dosages[1], [0, 1, 2, 1])
    np.testing.assert_allclose(block.dosages[2], [2, 0.5, 0, 0.2], rtol=1e-6)  # S1 from GT
    # not configured -> GT, even though DS exists
    np.testing.assert_allclose(_read(path).dosages[0], [0, 1, 2, 1])


def test_gt_used_when_ds_absent_from_header(tmp_path):
    path = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _basic_records())
    block = _read(path, dosage_field="DS")
    np.testing.assert_allclose(block.dosages[1], [1, 1, 2, 0])


def test_ds_out_of_range_is_an_input_error(tmp_path):
    recs = [Record("1", 10, "A", "G", ["0/0"] * 4, ds=[0.0, 2.5, 1.0, 1.0])]
    path = write_vcf(tmp_path / "ds.vcf.gz", SAMPLES, recs)
    with pytest.raises(InputError, match=r"S2.*outside \[0, 2\]"):
        _read(path, dosage_field="DS")


def test_maf_and_missing_rate_filters(tmp_path):
    recs = [
        Record("1", 10, "A", "G", ["0/1"] * 2 + ["0/0"] * 18),  # maf 0.05
        Record("1", 20, "A", "G", ["0/1"] * 4 + ["0/0"] * 16),  # maf 0.10
        Record("1", 30, "A", "G", ["./.", "0/1", "0/1", "0/1"] * 5),  # missing 0.25
        Record("1", 40, "A", "G", ["./.", "./.", "./.", "./."] * 5),  # all missing
        Record("1", 50, "A", "G", ["0/0"] * 20),  # monomorphic
    ]
    samples = [f"S{i}" for i in range(20)]
    path = write_vcf(tmp_path / "f.vcf.gz", samples, recs)
    block = read_genotypes(path, chrom="1", samples=samples, maf_min=0.08, missing_rate_max=0.2)
    assert list(block.variants["pos"]) == [20]
    assert block.skipped["missing_rate"] == 2
    assert block.skipped["maf"] == 2
    loose = read_genotypes(path, chrom="1", samples=samples, maf_min=0.01, missing_rate_max=0.3)
    assert list(loose.variants["pos"]) == [10, 20, 30]
    assert not np.isnan(loose.dosages).any()


@pytest.mark.parametrize(
    "file_chrom,query", [("chr1", "1"), ("1", "1"), ("chr1", "chr1"), ("1", "chr1")]
)
def test_chr_prefix_either_way(tmp_path, file_chrom, query):
    path = write_vcf(tmp_path / "c.vcf.gz", SAMPLES, _basic_records(file_chrom))
    block = _read(path, chrom=query)
    assert list(block.variants["pos"]) == [100, 200, 600]
    assert set(block.variants["chrom"]) == {"1"}


def test_region_query_returns_only_the_window(tmp_path):
    recs = [
        Record("chr2", 50, "ACGT", "A", ["0/1"] * 4),  # deletion overlapping the window start
        *[
            Record("chr2", p, "A", "G", ["0/1", "0/0", "1/1", "0/0"])
            for p in (99, 100, 150, 200, 201)
        ],
    ]
    path = write_vcf(tmp_path / "r.vcf.gz", SAMPLES, recs)
    block = _read(path, chrom="2", start=100, end=200)
    assert list(block.variants["pos"]) == [100, 150, 200]
    assert block.skipped["non_snv"] == 0  # the overlapping deletion starts outside the window
    assert list(_read(path, chrom="2", start=151).variants["pos"]) == [200, 201]
    assert list(_read(path, chrom="2", end=99).variants["pos"]) == [99]


def test_other_chromosomes_are_not_read(tmp_path):
    recs = _basic_records("chr1") + [Record("chr2", 10, "A", "G", ["0/1"] * 4)]
    path = write_vcf(tmp_path / "two.vcf.gz", SAMPLES, recs)
    assert list(_read(path, chrom="2").variants["pos"]) == [10]
    assert len(_read(path, chrom="1").variants) == 3


@pytest.mark.parametrize("kind", ["bcf", "vcf.gz-csi"])
def test_bcf_and_csi_work(tmp_path, kind):
    suffix = "bcf" if kind == "bcf" else "vcf.gz"
    path = write_vcf(tmp_path / f"b.{suffix}", SAMPLES, _basic_records(), kind=kind)
    assert os.path.exists(path + ".csi")
    block = _read(path, samples=["S4", "S2"])
    assert list(block.variants["pos"]) == [100, 200, 600]
    np.testing.assert_allclose(block.dosages[:, 0], [1, 0, 0])  # S4: ./. imputed to 1
    np.testing.assert_allclose(block.dosages[:, 1], [1, 1, 0])
    assert vcf_samples(path) == SAMPLES


def test_contig_in_header_without_records_gives_empty_block(tmp_path):
    path = write_vcf(tmp_path / "e.vcf.gz", SAMPLES, _basic_records("1"), contigs=["5"])
    block = _read(path, chrom="5")
    assert block.dosages.shape == (0, 4)
    assert list(block.variants.columns) == [
        "chrom",
        "pos",
        "variant_id",
        "ref",
        "alt",
        "alt_freq",
        "maf",
        "missing_rate",
        "hwe_p",
    ]


def test_missing_index_names_the_file(tmp_path):
    path = write_vcf(tmp_path / "noidx.vcf.gz", SAMPLES, _basic_records(), index=False)
    with pytest.raises(InputError, match=r"noidx\.vcf\.gz.*tabix -p vcf"):
        _read(path)
    bcf = write_vcf(tmp_path / "noidx.bcf", SAMPLES, _basic_records(), kind="bcf", index=False)
    with pytest.raises(InputError, match=r"noidx\.bcf.*bcftools index"):
        _read(bcf)


@pytest.mark.parametrize("kind", ["vcf.gz", "bcf"])
def test_truncated_file_is_an_error_not_fewer_variants(tmp_path, kind):
    rng = np.random.default_rng(3)
    samples = [f"ind{i}" for i in range(40)]
    recs, _ = random_records(rng, chrom="1", n_variants=3000, n_samples=40)
    suffix = "bcf" if kind == "bcf" else "vcf.gz"
    path = write_vcf(tmp_path / f"cut.{suffix}", samples, recs, kind=kind)
    assert len(read_genotypes(path, chrom="1", samples=samples, maf_min=0.0).variants) == 3000
    index = path + (".csi" if kind == "bcf" else ".tbi")
    index_mtime = os.stat(index).st_mtime_ns
    os.truncate(path, int(os.path.getsize(path) * 0.6))
    os.utime(index, ns=(index_mtime + 10**9, index_mtime + 10**9))  # the index kept, not stale
    with pytest.raises(InputError, match=r"cut\.(vcf\.gz|bcf)'? is truncated.*again"):
        read_genotypes(path, chrom="1", samples=samples)
    with pytest.raises(InputError, match="is truncated"):
        vcf_samples(path)  # prepare_cohort's first look at the file already refuses it


def test_index_older_than_the_file_is_an_error_naming_both(tmp_path):
    path = write_vcf(tmp_path / "old.vcf.gz", SAMPLES, _basic_records())
    stamp = os.stat(path).st_mtime_ns
    os.utime(path + ".tbi", ns=(stamp - 10**9, stamp - 10**9))
    with pytest.raises(InputError) as caught:
        _read(path)
    message = str(caught.value)
    assert f"{path!r} is newer than its index {path + '.tbi'!r}" in message
    assert f"tabix -f -p vcf {path}" in message
    os.utime(path + ".tbi")  # re-indexed: the index is newer again
    assert len(_read(path).variants) == 3


def test_missing_samples_are_named(tmp_path):
    path = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _basic_records())
    with pytest.raises(InputError, match=r"a\.vcf\.gz.*lacks 2 of the 3.*GTEX-X, GTEX-Y"):
        _read(path, samples=["S1", "GTEX-X", "GTEX-Y"])


def test_duplicate_sample_ids_are_named(tmp_path):
    path = write_vcf(
        tmp_path / "dup.vcf.gz", ["S1", "S2", "S1"], [Record("1", 10, "A", "G", ["0/1"] * 3)]
    )
    with pytest.raises(InputError, match=r"dup\.vcf\.gz.*duplicate sample ids: S1"):
        vcf_samples(path)
    with pytest.raises(InputError, match="duplicate sample ids: S1"):
        read_genotypes(path, chrom="1", samples=["S2"])


def test_unmatched_chromosome_lists_the_contigs(tmp_path):
    path = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _basic_records("chr1"))
    with pytest.raises(InputError, match=r"a\.vcf\.gz.*chromosome '7'.*contigs are: chr1"):
        _read(path, chrom="7")


def test_missing_or_garbage_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        vcf_samples(str(tmp_path / "nope.vcf.gz"))
    junk = tmp_path / "junk.vcf.gz"
    junk.write_text("not a vcf\n")
    with pytest.raises(InputError, match=r"junk\.vcf\.gz.*could not be read"):
        vcf_samples(str(junk))


# ---------------------------------------------------------------------------------------------
# Hardy-Weinberg exact test
# ---------------------------------------------------------------------------------------------


def _hwe_exact_fraction(het: int, hom1: int, hom2: int) -> float:
    """Reference: enumerate Levene's conditional distribution in exact rational arithmetic."""
    n = het + hom1 + hom2
    n_a = 2 * hom1 + het
    n_b = 2 * n - n_a

    def prob(h: int) -> Fraction:
        a = (n_a - h) // 2
        b = n - h - a
        num = 2**h * math.factorial(n) * math.factorial(n_a) * math.factorial(n_b)
        den = math.factorial(a) * math.factorial(h) * math.factorial(b) * math.factorial(2 * n)
        return Fraction(num, den)

    hs = [h for h in range(n_a % 2, min(n_a, n_b) + 1, 2)]
    p_obs = prob(het)
    return float(sum(p for p in (prob(h) for h in hs) if p <= p_obs))


def test_hwe_hand_computed_value():
    # n = 3, allele counts 2 / 4: P(0 het) = 0.2, P(2 het) = 0.8
    np.testing.assert_allclose(hwe_exact_pvalues([0], [2], [1]), [0.2])
    np.testing.assert_allclose(hwe_exact_pvalues([2], [1], [0]), [1.0])


def test_hwe_matches_exact_enumeration():
    cases = [
        (0, 10, 10),
        (20, 0, 0),
        (1, 0, 0),
        (0, 0, 0),
        (5, 20, 3),
        (57, 14, 50),
        (10, 80, 10),
        (3, 96, 1),
        (40, 30, 30),
        (0, 50, 1),
        (100, 0, 100),
        (88, 200, 12),
    ]
    het, hom1, hom2 = (np.array(c) for c in zip(*cases, strict=True))
    got = hwe_exact_pvalues(het, hom1, hom2)
    want = [_hwe_exact_fraction(*c) if sum(c) else 1.0 for c in cases]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    # symmetric in the two homozygote classes; small chunks give the same answer
    np.testing.assert_allclose(hwe_exact_pvalues(het, hom2, hom1), got, rtol=1e-12)
    np.testing.assert_allclose(hwe_exact_pvalues(het, hom1, hom2, chunk_cells=7), got, rtol=1e-12)


def test_hwe_filter_drops_excess_heterozygotes(tmp_path):
    n = 40
    samples = [f"S{i}" for i in range(n)]
    rng = np.random.default_rng(1)
    good, _ = random_records(rng, chrom="1", n_variants=1, n_samples=n, first_pos=10)
    all_het = Record("1", 20, "A", "G", ["0/1"] * n)  # p ~ 1e-11
    path = write_vcf(tmp_path / "h.vcf.gz", samples, [*good, all_het])
    block = read_genotypes(path, chrom="1", samples=samples, hwe_p_min=1e-6)
    assert list(block.variants["pos"]) == [10]
    assert block.skipped["hwe"] == 1
    assert 0 < block.variants["hwe_p"].iloc[0] <= 1


def test_random_vcf_round_trip(tmp_path):
    rng = np.random.default_rng(7)
    samples = [f"ind{i}" for i in range(30)]
    recs, counts = random_records(rng, chrom="chr3", n_variants=50, n_samples=30, missing=0.02)
    path = write_vcf(tmp_path / "rand.vcf.gz", samples, recs)
    block = read_genotypes(path, chrom="3", samples=samples, maf_min=0.0, missing_rate_max=1.0)
    assert block.dosages.shape == (50, 30)
    observed = ~np.isnan(counts)
    np.testing.assert_array_equal(block.dosages[observed], counts[observed])
    means = np.nanmean(counts, axis=1)
    r, c = np.nonzero(~observed)
    np.testing.assert_allclose(block.dosages[r, c], means[r], rtol=1e-6)
