"""The real workflow on the shared run's cohort with its genotypes as PLINK 1 and PLINK 2 files:
the same r2.tsv rows as the same genotypes in VCF (the shared run), reruns when a PLINK text file
changes, and a clear stop when one is missing."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from conftest import lines_where, run_workflow
from plink_factory import no_chr, read_calls, write_plink1, write_plink2

TARGET = "results/tables/r2.tsv"


@pytest.fixture(scope="module")
def plink_patterns(shared_cohort_and_config, tmp_path_factory) -> dict[str, str]:
    """``{chrom}`` patterns of per-chromosome copies of the shared cohort's genotypes: PLINK 1
    with chromosome codes without "chr" (as PLINK 1.9 writes them), PLINK 2 with the VCF's
    names."""
    _, _, cohort = shared_cohort_and_config
    out = tmp_path_factory.mktemp("plink_genotypes")
    for chrom in cohort["chromosomes"].split(","):
        calls = read_calls(cohort["genotypes"].replace("{chrom}", chrom))
        write_plink1(out / f"chr{chrom}.bed", calls, chrom=no_chr)
        write_plink2(out / f"chr{chrom}.pgen", calls)
    return {"plink1": str(out / "chr{chrom}.bed"), "plink2": str(out / "chr{chrom}.pgen")}


def _config(shared: dict, genotypes: str) -> dict:
    """The shared run's config for enet alone, its genotypes read from ``genotypes``."""
    config = shared | {"models": ["enet"], "truth": {"genes": None, "variants": None}}
    config["genotypes"] = dict(shared["genotypes"], path=genotypes)
    return config


@pytest.mark.parametrize("kind", ["plink1", "plink2"])
def test_plink_inputs_give_the_vcf_r2(
    shared_cohort_and_config, plink_patterns, request, tmp_path, kind
):
    """Acceptance: PLINK 1 and PLINK 2 inputs give the same r2.tsv rows as the same genotypes
    in VCF (the shared run, whose config this is with enet alone)."""
    _, shared, cohort = shared_cohort_and_config
    config = _config(shared, plink_patterns[kind])
    run_workflow(tmp_path, config, TARGET)
    vcf_run = request.getfixturevalue("shared_run").workdir  # after this run: side by side
    r2 = (tmp_path / TARGET).read_text().splitlines()
    assert r2 == lines_where(vcf_run / TARGET, model=["enet"])
    assert len(r2) > 2
    for chrom in cohort["chromosomes"].split(","):
        store = f"results/cis/{chrom}/dosages.npy"
        np.testing.assert_array_equal(np.load(tmp_path / store), np.load(vcf_run / store))
    # a change to a text file beside the binary one makes the cis store out of date
    sibling = os.path.splitext(plink_patterns[kind].replace("{chrom}", "1"))[0]
    sibling += ".bim" if kind == "plink1" else ".pvar"
    with open(sibling) as handle:
        text = handle.read()
    try:
        with open(sibling, "w") as handle:  # a variant renamed (Snakemake compares checksums)
            handle.write(text.replace("\trs", "\trenamed_rs", 1))
        dry = run_workflow(tmp_path, config, TARGET, "-n")
        assert "extract_cis" in dry.stdout and "prepare_cohort" not in dry.stdout
    finally:
        with open(sibling, "w") as handle:
            handle.write(text)


def test_missing_fam_stops_the_run_naming_it(shared_cohort_and_config, plink_patterns, tmp_path):
    source = os.path.dirname(plink_patterns["plink1"])
    copy = tmp_path / "geno"
    shutil.copytree(source, copy)
    fam = str(copy / "chr2.fam")
    os.remove(fam)
    config = _config(shared_cohort_and_config[1], str(copy / "chr{chrom}.bed"))
    proc = run_workflow(tmp_path / "run", config, "results/cohort/samples.tsv", check=False)
    assert proc.returncode != 0
    expected = f"needs {fam!r} beside it, which does not exist"
    assert expected in proc.stderr
    assert expected in (tmp_path / "run/results/logs/prepare_cohort.log").read_text()
    assert not (tmp_path / "run/results/cohort/samples.tsv").exists()
