"""Units of stage 2 and exports: allele matching, PredictDB tables, association, provenance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from twasnet.associate import associate_genes, fdr, spredixcan_z
from twasnet.errors import InputError
from twasnet.export.predictdb import (
    check_predictdb,
    extra_table,
    gene_covariance,
    gene_weights,
    gtex_varid,
    performance_filter,
    read_predictdb,
    rekey_covariance,
    write_covariance,
    write_predictdb,
)
from twasnet.predict import match_variants, model_dosages
from twasnet.provenance import config_hash, file_sha256


def test_alleles_match_directly_swapped_and_on_the_other_strand_but_ambiguous_only_directly():
    model = pd.DataFrame(
        {
            "chrom": ["1"] * 6,
            "pos": [10, 20, 30, 40, 50, 60],
            "ref": ["A", "A", "A", "A", "A", "C"],
            "alt": ["G", "G", "G", "G", "T", "G"],
        }
    )
    target = pd.DataFrame(
        {
            "chrom": ["1"] * 5,
            "pos": [10, 20, 30, 40, 50],
            # exact; swapped; complement (T/C); complement swapped (C/T); A/T swapped is ambiguous
            "ref": ["A", "G", "T", "C", "T"],
            "alt": ["G", "A", "C", "T", "A"],
        }
    )
    match = match_variants(model, target)
    expected = ["exact", "swapped", "strand", "strand_swapped", "swapped", "missing"]
    assert list(match["kind"]) == expected
    dosages = np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 1.0], [2.0, 0.0], [1.0, 0.0]])
    mean = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    x = model_dosages(match, dosages, mean)
    np.testing.assert_array_equal(x[:, 0], [0, 1])
    np.testing.assert_array_equal(x[:, 1], [2, 0])  # swapped: 2 - d
    np.testing.assert_array_equal(x[:, 2], [1, 1])
    np.testing.assert_array_equal(x[:, 3], [0, 2])
    np.testing.assert_array_equal(x[:, 5], [0.6, 0.6])  # absent: the training mean


def test_ambiguous_snp_is_not_matched_to_its_complement():
    model = pd.DataFrame({"chrom": ["1"], "pos": [5], "ref": ["A"], "alt": ["T"]})
    # T/A at the same position is REF/ALT swapped, the only reading we accept for A/T
    assert match_variants(model, model.assign(ref="T", alt="A"))["kind"].tolist() == ["swapped"]
    other = pd.DataFrame({"chrom": ["1"], "pos": [5], "ref": ["C"], "alt": ["G"]})
    assert match_variants(model, other)["kind"].tolist() == ["missing"]


def _toy_model(tmp_path):
    variants = pd.DataFrame(
        {
            "chrom": ["1", "1", "1"],
            "pos": [100, 200, 300],
            "variant_id": ["rs1", "", "rs3"],
            "ref": ["A", "C", "G"],
            "alt": ["G", "T", "A"],
        }
    )
    weights = gene_weights("G1", variants=variants, coef=np.array([0.5, -0.2, 0.0]), build="b38")
    rng = np.random.default_rng(0)
    cov = gene_covariance("G1", rsids=weights["rsid"], dosages=rng.integers(0, 3, (50, 2)))
    perf = pd.DataFrame(
        {"gene_id": ["G1"], "r2_pearson": [0.2], "pearson_p": [0.01], "r2_sse": [0.15]}
    ).assign(h2=0.3, h2_p=1e-4)
    db, cov_path = tmp_path / "m.db", tmp_path / "m.txt.gz"
    write_predictdb(
        db,
        weights=weights,
        extra=extra_table(perf, weights),
        n_samples=50,
        chromosomes=["1"],
        seed=1,
    )
    write_covariance(cov, cov_path)
    return weights, cov, db, cov_path


def test_predictdb_weights_use_gtex_varids_and_the_vcf_id_as_rsid(tmp_path):
    weights, cov, db, cov_path = _toy_model(tmp_path)
    assert list(weights["varID"]) == ["chr1_100_A_G_b38", "chr1_200_C_T_b38"]
    assert list(weights["rsid"]) == ["rs1", "chr1_200_C_T_b38"]  # no ID: the varID
    assert list(weights["eff_allele"]) == ["G", "T"]
    assert gtex_varid(["chr2"], [5], ["A"], ["C"], build="") == ["chr2_5_A_C"]
    assert len(cov) == 3  # pairs i <= j of 2 SNPs
    check_predictdb(db, cov_path)
    construction = read_predictdb(db)["construction"]
    assert list(construction.columns) == ["chr", "cv.seed"]  # as PredictDB's model files name them


def test_schema_check_names_the_problem(tmp_path):
    weights, cov, db, cov_path = _toy_model(tmp_path)
    write_covariance(cov[cov["RSID1"] != cov["RSID2"]], cov_path)
    with pytest.raises(InputError, match="lacks the variance"):
        check_predictdb(db, cov_path)


def test_spredixcan_formula_on_one_snp_is_the_gwas_z():
    assert spredixcan_z(np.array([-0.7]), np.array([[0.4]]), np.array([3.0])) == pytest.approx(-3.0)


def test_ols_association_matches_scipy_and_logistic_runs():
    rng = np.random.default_rng(3)
    n = 400
    grex = rng.standard_normal((3, n))
    y = 0.3 * grex[0] + rng.standard_normal(n)
    table = associate_genes(y, grex)
    reference = stats.linregress(grex[1], y)
    assert table.loc[1, "p"] == pytest.approx(reference.pvalue, rel=1e-8)
    assert table.loc[0, "p"] < 1e-4 and list(table["status"]) == ["ok"] * 3
    cases = (y > np.median(y)).astype(float)
    logistic = associate_genes(cases, grex, covariates=rng.standard_normal((n, 2)), binary=True)
    assert logistic.loc[0, "effect"] > 0 and logistic.loc[0, "p"] < 1e-3
    constant = associate_genes(y, np.ones((1, n)))
    assert constant.loc[0, "status"] == "constant_prediction"
    np.testing.assert_allclose(fdr(np.array([0.01, 0.04, np.nan])), [0.02, 0.04, np.nan])


def test_association_p_values_are_uniform_under_the_null():
    """Null phenotype: at alpha 5% about 5% of 2,000 genes are called, within binomial error."""
    rng = np.random.default_rng(11)
    n, g = 200, 2000
    grex = rng.standard_normal((g, n))
    table = associate_genes(rng.standard_normal(n), grex, covariates=rng.standard_normal((n, 2)))
    rate = float((table["p"] < 0.05).mean())
    assert abs(rate - 0.05) < 3 * np.sqrt(0.05 * 0.95 / g)


def test_config_hash_ignores_key_order_and_file_hash_is_sha256(tmp_path):
    assert config_hash({"a": 1, "b": {"c": 2}}) == config_hash({"b": {"c": 2}, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert file_sha256(path) == expected


def test_covariance_rekeyed_by_varid_matches_the_weights_of_that_key(tmp_path):
    """S-PrediXcan looks the covariance up by the --model_db_snp_key column: a file keyed by rsid
    serves rsid (and fails the varID check), the rekeyed one serves varID."""
    weights, cov, db, cov_path = _toy_model(tmp_path)
    check_predictdb(db, cov_path, snp_key="rsid")
    with pytest.raises(InputError, match=r"not among their gene's weights by varID.*'rs1'"):
        check_predictdb(db, cov_path, snp_key="varID")
    by_varid = rekey_covariance(cov, weights, "varID")
    for key, frame in (("rsid", cov), ("varID", by_varid)):
        names = set(frame["RSID1"]) | set(frame["RSID2"])
        assert names == set(weights[key]), key
    np.testing.assert_array_equal(by_varid["VALUE"], cov["VALUE"])
    varid_path = tmp_path / "m.varID.txt.gz"
    write_covariance(by_varid, varid_path)
    check_predictdb(db, varid_path, snp_key="varID")
    assert rekey_covariance(cov, weights, "rsid") is cov


def test_covariance_check_refuses_what_s_predixcan_refuses(tmp_path):
    weights, cov, db, cov_path = _toy_model(tmp_path)
    write_covariance(pd.concat([cov, cov.iloc[:1]]), cov_path)
    with pytest.raises(InputError, match="duplicated rows"):
        check_predictdb(db, cov_path)


def test_performance_filter_keeps_positive_held_out_predictions_above_both_bounds():
    performance = pd.DataFrame(
        {
            "gene_id": ["good", "low_r2", "high_p", "negative", "untested"],
            "r2_pearson": [0.2, 0.005, 0.03, 0.09, np.nan],
            "pearson_r": [0.45, 0.07, 0.17, -0.3, np.nan],
            "pearson_p": [1e-4, 0.01, 0.2, 1e-3, np.nan],
        }
    )
    reasons = performance_filter(performance, r2_min=0.01, p_max=0.05)
    assert reasons.tolist() == [
        "",
        "held-out R² 0.005 <= export.filter.r2_min 0.01",
        "held-out p 0.2 >= export.filter.p_max 0.05",
        "held-out correlation r = -0.3 is not positive",
        "no held-out R² or p",
    ]
    no_bounds = performance_filter(performance, r2_min=None, p_max=None)
    assert no_bounds.eq("").tolist() == [True, True, True, False, False]
