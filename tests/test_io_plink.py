"""PLINK 1 (.bed/.bim/.fam) and PLINK 2 (.pgen/.pvar/.psam) genotypes read exactly as the same
genotypes in VCF: dosages, variant table, samples, filters, naming, and the errors users see."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from plink_factory import no_chr, read_calls, write_plink1, write_plink2
from vcf_factory import Record, write_vcf

from twasnet.errors import InputError
from twasnet.export.stages import read_target_genotypes
from twasnet.io.genotypes import (
    genotype_format,
    genotype_index,
    genotype_samples,
    read_genotypes,
    sibling_files,
)
from twasnet.io.plink import plink_chromosomes

SAMPLES = ["S1", "S2", "S3", "S4"]
FILTERS = (
    {"maf_min": 0.0, "missing_rate_max": 1.0},
    {"maf_min": 0.05, "missing_rate_max": 0.005, "hwe_p_min": 1e-3},
    {"maf_min": 0.01, "missing_rate_max": 0.1, "start": 150_000, "end": 420_000},
)


def _records(chrom: str = "chr1") -> list[Record]:
    return [
        Record(chrom, 100, "A", "G", ["0/0", "0/1", "1/1", "./."], id="rs100"),  # a missing call
        Record(chrom, 200, "c", "t", ["0|1", "1|0", "1|1", "0|0"]),  # lower case, no id
        Record(chrom, 300, "A", "G,T", ["0/1", "0/2", "1/1", "0/0"]),  # multi-allelic
        Record(chrom, 400, "AT", "A", ["0/1", "0/1", "1/1", "0/0"]),  # deletion
        Record(chrom, 600, "T", "C", ["1/1", "1/1", "1/1", "0/1"], id="rs600"),  # ALT common
    ]


def _assert_same(got, want) -> None:
    np.testing.assert_array_equal(got.dosages, want.dosages)
    assert got.dosages.dtype == want.dosages.dtype == np.float32
    pd.testing.assert_frame_equal(got.variants, want.variants)
    assert got.samples == want.samples


def _copies(vcf: str, directory, *, plink1_chrom=no_chr, plink2_chrom=str) -> dict[str, str]:
    calls = read_calls(vcf)
    return {
        "plink1": write_plink1(directory / "g.bed", calls, chrom=plink1_chrom),
        "plink2": write_plink2(directory / "g.pgen", calls, chrom=plink2_chrom),
    }


# ---------------------------------------------------------------------------- the tiny cohort
@pytest.fixture(scope="module")
def tiny_plink(tiny_cohort, tmp_path_factory) -> dict[str, dict[str, str]]:
    """chr1's genotypes of the tiny cohort as VCF, PLINK 1 (chromosome "1", as PLINK 1.9 names
    it) and PLINK 2 (chromosome "chr1", the VCF's name)."""
    vcf = tiny_cohort["genotypes"].replace("{chrom}", "1")
    return {"vcf": vcf} | _copies(vcf, tmp_path_factory.mktemp("tiny_plink"))


@pytest.mark.parametrize("kind", ["plink1", "plink2"])
@pytest.mark.parametrize("filters", FILTERS)
def test_plink_matches_vcf_on_the_tiny_cohort(tiny_plink, kind, filters):
    vcf, path = tiny_plink["vcf"], tiny_plink[kind]
    assert genotype_samples(path) == genotype_samples(vcf)
    rng = np.random.default_rng(3)
    samples = list(rng.permutation(genotype_samples(vcf))[:100])  # a subset, shuffled
    want = read_genotypes(vcf, chrom="1", samples=samples, **filters)
    assert len(want.variants) > 100
    for chrom in ("1", "chr1"):  # either spelling finds "1" (PLINK 1) and "chr1" (PLINK 2)
        got = read_genotypes(path, chrom=chrom, samples=samples, **filters)
        _assert_same(got, want)
        skipped = dict(want.skipped)
        if kind == "plink1":  # a .bed cannot hold the VCF's multi-allelic records
            skipped["multiallelic"] = 0
        assert got.skipped == skipped


def test_tiny_cohort_missing_calls_are_imputed_alike(tiny_plink):
    samples = genotype_samples(tiny_plink["vcf"])
    kw = {"chrom": "chr1", "samples": samples, "maf_min": 0.0, "missing_rate_max": 1.0}
    want = read_genotypes(tiny_plink["vcf"], **kw)
    assert (want.variants["missing_rate"] > 0).sum() >= 10  # the cohort's missing calls
    assert want.skipped["multiallelic"] > 0 and want.skipped["non_snv"] > 0
    for kind in ("plink1", "plink2"):
        _assert_same(read_genotypes(tiny_plink[kind], **kw), want)


# ---------------------------------------------------------------------------- alleles
def test_dosage_counts_alt_and_alleles_follow_plink2(tmp_path):
    vcf = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _records())
    kw = {"chrom": "1", "samples": ["S4", "S2", "S1", "S3"], "maf_min": 0.0}
    kw["missing_rate_max"] = 1.0
    want = read_genotypes(vcf, **kw)
    assert list(want.variants["ref"]) == ["A", "C", "T"]
    assert list(want.variants["alt"]) == ["G", "T", "C"]
    np.testing.assert_array_equal(want.dosages[0], [1, 1, 0, 2])  # S3 missing: mean of 0, 1, 2
    np.testing.assert_array_equal(want.dosages[2], [1, 2, 2, 2])
    files = _copies(vcf, tmp_path)
    bim = pd.read_csv(files["plink1"][:-4] + ".bim", sep="\t", header=None)
    assert list(bim[4]) == ["G", "t", "A", "C"] and list(bim[5]) == ["A", "c", "AT", "T"]  # A1 ALT
    for kind in ("plink1", "plink2"):
        got = read_genotypes(files[kind], **kw)
        _assert_same(got, want)
        assert list(got.variants["variant_id"]) == ["rs100", "", "rs600"]


def test_bim_a1_is_counted_whichever_allele_it_is(tmp_path):
    """A .bim from PLINK 1.9 without --keep-allele-order has the minor allele as A1: the dosage
    still counts A1 and A1 is reported as ALT, as PLINK 2 and pgenlib read the file."""
    import pgenlib
    from bed_reader import to_bed

    ref_counts = np.array([[2, 1, 0, np.nan], [0, 0, 1, 2]], dtype=np.float32)  # 2 variants
    properties = {
        "iid": SAMPLES,
        "chromosome": ["1", "1"],
        "bp_position": [100, 200],
        "allele_1": ["A", "C"],  # the VCF's REF as A1
        "allele_2": ["G", "T"],
    }
    bed = str(tmp_path / "swapped.bed")
    to_bed(bed, ref_counts.T, properties=properties, num_threads=1)
    block = read_genotypes(bed, chrom="1", samples=SAMPLES, maf_min=0.0, missing_rate_max=1.0)
    assert list(block.variants["alt"]) == ["A", "C"] and list(block.variants["ref"]) == ["G", "T"]
    np.testing.assert_array_equal(block.dosages, [[2, 1, 0, 1], [0, 0, 1, 2]])
    reader = pgenlib.PgenReader(os.fsencode(bed), raw_sample_ct=4)
    alt = np.empty((2, 4), dtype=np.int8)
    reader.read_range(0, 2, alt)  # pgenlib's ALT count on a .bed: the A1 count too
    reader.close()
    np.testing.assert_array_equal(alt, [[2, 1, 0, -9], [0, 0, 1, 2]])


def test_pgen_stored_dosages_match_vcf_ds(tmp_path):
    ds = [[0.25, 1.5, 2.0, 0.0], [1.0, 0.75, 0.0, 0.5], [2.0, 2.0, 1.75, 1.25]]
    gts = [["0/0", "1/1", "1/1", "0/0"], ["0/1", "0/1", "0/0", "0/0"], ["1/1"] * 4]
    records = [
        Record("chr2", 10 * (i + 1), "A", "C", gt, ds=d)
        for i, (gt, d) in enumerate(zip(gts, ds, strict=True))
    ]
    vcf = write_vcf(tmp_path / "ds.vcf.gz", SAMPLES, records)
    pgen = write_plink2(tmp_path / "ds.pgen", read_calls(vcf, ds=True), dosages=True)
    kw = {"chrom": "2", "samples": SAMPLES, "maf_min": 0.0, "dosage_field": "DS"}
    want = read_genotypes(vcf, **kw)
    np.testing.assert_array_equal(want.dosages, np.array(ds, dtype=np.float32))
    _assert_same(read_genotypes(pgen, **kw), want)


# ---------------------------------------------------------------------------- text layouts
def test_psam_and_pvar_layouts_and_chromosome_codes(tmp_path):
    vcf = write_vcf(tmp_path / "x.vcf.gz", SAMPLES, _records("chrX"))
    calls = read_calls(vcf)
    kw = {"chrom": "X", "samples": SAMPLES, "maf_min": 0.0, "missing_rate_max": 1.0}
    want = read_genotypes(vcf, **kw)
    bed = write_plink1(tmp_path / "x23.bed", calls, chrom=lambda c: "23")  # PLINK 1.9's code
    _assert_same(read_genotypes(bed, **kw), want)
    for header in ("#FID\tIID", ""):  # the .fam layout when there is no header line
        pgen = write_plink2(tmp_path / f"x{len(header)}.pgen", calls, psam_header=header)
        assert genotype_samples(pgen) == SAMPLES
        _assert_same(read_genotypes(pgen, **kw), want)

    # a .pvar without a header line has the .bim layout (bi-allelic records only, as a .bim)
    records = [r for r in _records("chrX") if "," not in r.alt]
    bi_vcf = write_vcf(tmp_path / "bi.vcf.gz", SAMPLES, records)
    calls = read_calls(bi_vcf)
    bed = write_plink1(tmp_path / "bi.bed", calls)
    pgen = write_plink2(tmp_path / "bi.pgen", calls)
    os.replace(bed[:-4] + ".bim", pgen[:-5] + ".pvar")
    _assert_same(read_genotypes(pgen, **kw), read_genotypes(bi_vcf, **kw))


def test_pvar_contig_without_variants_gives_an_empty_block(tmp_path):
    vcf = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _records(), contigs=["chr1", "chr2"])
    pgen = write_plink2(tmp_path / "a.pgen", read_calls(vcf))
    pvar = pgen[:-5] + ".pvar"
    with open(pvar) as handle:
        text = handle.read()
    with open(pvar, "w") as handle:
        handle.write("##contig=<ID=chr1,length=9>\n##contig=<ID=chr2,length=9>\n" + text)
    assert plink_chromosomes(pgen) == ["chr1", "chr2"]
    block = read_genotypes(pgen, chrom="2", samples=SAMPLES)
    assert block.dosages.shape == (0, 4) and block.variants.empty
    assert read_genotypes(vcf, chrom="2", samples=SAMPLES).variants.empty


def test_format_by_extension_and_sibling_files(tmp_path):
    vcf = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _records())
    files = _copies(vcf, tmp_path)
    assert [genotype_format(p) for p in (vcf, files["plink1"], files["plink2"])] == [
        "vcf",
        "plink1",
        "plink2",
    ]
    assert genotype_format("data/chr{chrom}.BED") == "plink1"
    assert genotype_format("data/chr1.bcf") == "vcf"
    assert sibling_files("d/chr{chrom}.bed") == ["d/chr{chrom}.bim", "d/chr{chrom}.fam"]
    assert sibling_files("d/chr1.pgen") == ["d/chr1.pvar", "d/chr1.psam"]
    assert sibling_files(vcf) == []
    assert genotype_index(vcf) == vcf + ".tbi"
    open(files["plink1"] + ".tbi", "w").close()
    assert genotype_index(files["plink1"]) is None  # only VCF / BCF have an index


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kind, sibling", [("plink1", ".bim"), ("plink1", ".fam"), ("plink2", ".psam")]
)
def test_missing_sibling_file_is_named(tmp_path, kind, sibling):
    vcf = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _records())
    path = _copies(vcf, tmp_path)[kind]
    gone = os.path.splitext(path)[0] + sibling
    os.remove(gone)
    with pytest.raises(InputError, match="needs .* beside it, which does not exist") as err:
        read_genotypes(path, chrom="1", samples=SAMPLES)
    assert repr(gone) in str(err.value) and "replacing its extension" in str(err.value)
    with pytest.raises(InputError, match=sibling):
        genotype_samples(path)


def test_count_mismatch_names_the_files(tmp_path):
    vcf = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _records())
    files = _copies(vcf, tmp_path)
    fam = files["plink1"][:-4] + ".fam"
    with open(fam, "a") as handle:
        handle.write("0 S5 0 0 0 -9\n")  # one sample more than the .bed holds
    with pytest.raises(InputError, match="do not belong together") as err:
        read_genotypes(files["plink1"], chrom="1", samples=SAMPLES)
    assert repr(fam) in str(err.value) and "5 samples" in str(err.value)
    pvar = files["plink2"][:-5] + ".pvar"
    with open(pvar) as handle:
        lines = handle.readlines()
    with open(pvar, "w") as handle:
        handle.writelines(lines[:-1])  # one variant fewer than the .pgen holds
    with pytest.raises(InputError, match="plink2 --make-pgen") as err:
        read_genotypes(files["plink2"], chrom="1", samples=SAMPLES)
    assert repr(pvar) in str(err.value) and "4 variants" in str(err.value)


def test_bad_requests_are_refused_as_for_vcf(tmp_path):
    vcf = write_vcf(tmp_path / "a.vcf.gz", SAMPLES, _records())
    for path in _copies(vcf, tmp_path).values():
        with pytest.raises(InputError, match="has no chromosome '7'"):
            read_genotypes(path, chrom="7", samples=SAMPLES)
        with pytest.raises(InputError, match="lacks 1 of the 2 requested samples"):
            read_genotypes(path, chrom="1", samples=["S1", "NOPE"])
        with pytest.raises(InputError, match="does not exist"):
            read_genotypes(path.replace("g.", "h."), chrom="1", samples=SAMPLES)
    fam = str(tmp_path / "g.fam")
    with open(fam, "a") as handle:
        handle.write("0 S1 0 0 0 -9\n")
    with pytest.raises(InputError, match="duplicate sample ids: S1"):
        genotype_samples(str(tmp_path / "g.bed"))


@pytest.mark.parametrize("kind", ["plink1", "plink2"])
def test_target_genotypes_for_stage_2_read_plink_as_vcf(tiny_plink, kind):
    spans = {"1": [(1, 400_000), (600_000, 900_000)]}
    want = read_target_genotypes(tiny_plink["vcf"], spans=spans, samples=None, dosage_field=None)
    got = read_target_genotypes(tiny_plink[kind], spans=spans, samples=None, dosage_field=None)
    pd.testing.assert_frame_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert got[2] == want[2] and len(want[0]) > 0
