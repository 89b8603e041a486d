"""`twasnet simulate`: readable input-format files, reproducible, with honest truth."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import cyvcf2
import numpy as np
import pandas as pd
import pytest

from twasnet.errors import InputError
from twasnet.simulate import ANNOTATION_COLUMNS, PRESETS, TARGET_PARAMETERS, simulate_cohort

FILE_KEYS = (
    "expression",
    "covariates",
    "annotations",
    "truth_genes",
    "truth_variants",
    "truth_genetic_values",
    "simulation",
)


def _chroms(paths: dict[str, str]) -> list[str]:
    return paths["chromosomes"].split(",")


def _all_files(out_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out_dir)): p.read_bytes()
        for p in sorted(out_dir.rglob("*"))
        if p.is_file()
    }


def _records(path: str) -> list[cyvcf2.Variant]:
    return list(cyvcf2.VCF(path))


@pytest.fixture(scope="module")
def cohort(tiny_cohort) -> dict[str, str]:
    return tiny_cohort


@pytest.fixture(scope="module")
def truth(cohort) -> pd.DataFrame:
    return pd.read_csv(cohort["truth_genes"], sep="\t")


def test_presets_name_exactly_the_keyword_parameters():
    signature = inspect.signature(simulate_cohort).parameters
    # the optional target cohort's parameters are not part of the presets (--target N sets it)
    params = set(signature) - {"out_dir"} - set(TARGET_PARAMETERS)
    for name in PRESETS:
        assert set(PRESETS[name]) == params, name
    for key, default in TARGET_PARAMETERS.items():
        assert signature[key].default == default, key


def test_cli_offers_every_preset():
    from twasnet.cli import PRESET_NAMES

    assert sorted(PRESET_NAMES) == sorted(PRESETS)


def test_files_exist_and_are_readable(cohort):
    assert _chroms(cohort) == ["1", "2"]
    for chrom in _chroms(cohort):
        path = cohort["genotypes"].format(chrom=chrom)
        assert os.path.exists(path + ".tbi")
        vcf = cyvcf2.VCF(path)
        assert vcf.seqnames == [f"chr{chrom}"]
        assert vcf.samples[0] == "GTEX-S0001"
        in_region = list(vcf(f"chr{chrom}:200000-300000"))
        assert in_region and all(200_000 <= v.POS <= 300_000 for v in in_region)
    for key in FILE_KEYS:
        assert os.path.getsize(cohort[key]) > 0, key
    expr = pd.read_csv(cohort["expression"], sep="\t")
    assert list(expr.columns[:4]) == ["#chr", "start", "end", "gene_id"]
    assert (expr["end"] - expr["start"] == 1).all()
    assert expr[["#chr", "start"]].equals(expr[["#chr", "start"]].sort_values(["#chr", "start"]))
    values = expr.iloc[:, 4:].to_numpy()
    np.testing.assert_allclose(values.mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(values.std(axis=1), 1, atol=1e-3)
    cov = pd.read_csv(cohort["covariates"], sep="\t")
    assert cov["ID"].tolist()[:5] == [f"PC{i}" for i in range(1, 6)]
    assert "sex" in cov["ID"].tolist()
    assert set(cov.set_index("ID").loc["sex"].unique()) <= {0, 1}
    assert list(cov.columns[1:]) == list(expr.columns[4:])


def test_samples_overlap_partially(cohort):
    genotyped = set(cyvcf2.VCF(cohort["genotypes"].format(chrom="1")).samples)
    expressed = set(pd.read_csv(cohort["expression"], sep="\t", nrows=0).columns[4:])
    assert len(expressed - genotyped) == 1  # expression without genotypes
    assert 1 <= len(genotyped - expressed) <= 0.05 * len(genotyped)  # genotypes without expression


def test_vcf_has_multiallelic_indel_missing_and_ids(cohort):
    n_multi = n_indel = n_missing = n_rs = n_dot = 0
    for chrom in _chroms(cohort):
        records = _records(cohort["genotypes"].format(chrom=chrom))
        pos = np.array([v.POS for v in records])
        assert pos.min() >= 1 and (np.diff(pos) > 0).all()
        n_multi += sum(len(v.ALT) > 1 for v in records)
        n_indel += sum(v.is_indel for v in records)
        n_missing += sum(int((v.gt_types == 2).sum()) for v in records)  # cyvcf2: 2 = UNKNOWN
        ids = [v.ID for v in records]
        n_rs += sum(i is not None and i.startswith("rs") for i in ids)
        n_dot += sum(i is None for i in ids)
        assert len({i for i in ids if i}) == sum(1 for i in ids if i)  # ids are unique
    assert n_multi >= 1
    assert 5 <= n_indel <= 40
    assert n_missing >= 5
    assert n_rs > 10 * n_dot > 0


def test_annotations_cover_snvs_and_are_correlated(cohort):
    ann = pd.read_parquet(cohort["annotations"])
    assert list(ann.columns[:4]) == ["chrom", "pos", "ref", "alt"]
    assert len(ANNOTATION_COLUMNS) >= 6 and list(ann.columns[4:]) == list(ANNOTATION_COLUMNS)
    assert ann["ref"].str.len().eq(1).all() and ann["alt"].str.len().eq(1).all()
    corr = ann[list(ANNOTATION_COLUMNS)].corr()
    assert corr.loc["conservation", "cadd_like"] > 0.3
    assert corr.loc["coding", "conservation"] > 0.05
    assert corr.loc["promoter", "tf_binding"] > 0.05
    for col in ("promoter", "enhancer", "coding", "tf_binding"):
        assert set(ann[col].unique()) == {0, 1}, col
    # every biallelic SNV has a row except a few left out on purpose
    snvs = {
        (f"chr{c}", v.POS)
        for c in _chroms(cohort)
        for v in _records(cohort["genotypes"].format(chrom=c))
        if len(v.ALT) == 1 and v.is_snp
    }
    annotated = set(zip(ann["chrom"], ann["pos"], strict=True))
    assert annotated <= snvs
    assert 1 <= len(snvs - annotated) <= 0.01 * len(snvs)


def test_truth_h2_and_causal_variants(cohort, truth):
    null = truth[truth["h2_total"] == 0]
    heritable = truth[truth["h2_total"] > 0]
    assert len(null) >= 1 and len(heritable) >= 3
    assert (null[["h2_linear", "h2_nonlinear", "n_causal"]] == 0).all().all()
    np.testing.assert_allclose(
        heritable["h2_linear"] + heritable["h2_nonlinear"], heritable["h2_total"], atol=1e-5
    )
    assert heritable["n_causal"].between(1, 5).all()

    variants = pd.read_csv(cohort["truth_variants"], sep="\t")
    causal = variants[variants["causal"] == 1]
    assert causal.groupby("gene_id").size().reindex(truth["gene_id"], fill_value=0).tolist() == (
        truth["n_causal"].tolist()
    )
    assert (causal["maf"] >= 0.05).all()
    assert causal["effect_kind"].str.contains("additive").all()
    tss = truth.set_index("gene_id")["tss"]
    window = PRESETS["tiny"]["window_bp"]
    assert (np.abs(causal["pos"].to_numpy() - tss[causal["gene_id"]].to_numpy()) <= window).all()
    assert (variants.loc[variants["causal"] == 0, "effect_kind"] == "none").all()


def _genetic_values(cohort) -> pd.DataFrame:
    return pd.read_csv(cohort["truth_genetic_values"], sep="\t").set_index("gene_id")


def test_expression_follows_genetic_value(cohort, truth):
    expr = pd.read_csv(cohort["expression"], sep="\t").set_index("gene_id").iloc[:, 3:]
    g = _genetic_values(cohort)[expr.columns]
    for gene in truth.loc[truth["h2_total"] == 0, "gene_id"]:
        assert (g.loc[gene] == 0).all()
    best = truth.sort_values("h2_total").iloc[-1]
    r = np.corrcoef(expr.loc[best["gene_id"]], g.loc[best["gene_id"]])[0, 1]
    # corr(E, G) = sqrt(h2 * (1 - covariate share)) in expectation
    expected = np.sqrt(best["h2_total"] * (1 - best["covariate_share"]))
    assert r > 0.5 * expected and r > 0.25


def _causal_dosages(cohort, gene_id: str, samples: list[str]) -> np.ndarray:
    variants = pd.read_csv(cohort["truth_variants"], sep="\t")
    causal = variants[(variants["gene_id"] == gene_id) & (variants["causal"] == 1)]
    vcf = cyvcf2.VCF(cohort["genotypes"].format(chrom=causal["chrom"].iloc[0][3:]), gts012=True)
    vcf.set_samples(samples)
    wanted = set(causal["pos"])
    cols = [v.gt_types.astype(float) for v in vcf if v.POS in wanted]
    x = np.column_stack(cols)
    x[x == 3] = np.nan  # missing call
    return np.where(np.isnan(x), np.nanmean(x, axis=0), x)


def test_nonlinear_share_is_what_an_additive_model_misses(cohort, truth):
    g_all = _genetic_values(cohort)
    samples = cyvcf2.VCF(cohort["genotypes"].format(chrom="1")).samples
    heritable = truth[truth["h2_total"] > 0]
    assert (heritable["h2_nonlinear"] > 0).any()
    for gene in heritable.itertuples():
        g = g_all.loc[gene.gene_id, samples].to_numpy()
        x = np.column_stack([np.ones(len(samples)), _causal_dosages(cohort, gene.gene_id, samples)])
        fitted = x @ np.linalg.lstsq(x, g, rcond=None)[0]
        r2 = 1 - np.var(g - fitted) / np.var(g)
        # an additive model on the true causal variants explains h2_linear / h2_total of G
        assert abs(r2 - gene.h2_linear / gene.h2_total) < 0.08, gene.gene_id


def test_same_seed_same_bytes_other_seed_differs(cohort, tmp_path):
    first = _all_files(Path(cohort["expression"]).parent)
    simulate_cohort(out_dir=tmp_path / "again", **PRESETS["tiny"])
    assert _all_files(tmp_path / "again") == first
    other = dict(PRESETS["tiny"], seed=PRESETS["tiny"]["seed"] + 1)
    simulate_cohort(out_dir=tmp_path / "other", **other)
    changed = _all_files(tmp_path / "other")
    for name in ("genotypes/chr1.vcf.gz", "expression.bed.gz", "truth_genes.tsv"):
        assert changed[name] != first[name], name


def test_nonlinear_share_zero_gives_purely_additive_genes(cohort, truth, tmp_path):
    paths = simulate_cohort(out_dir=tmp_path, **dict(PRESETS["tiny"], nonlinear_share=0.0))
    additive = pd.read_csv(paths["truth_genes"], sep="\t")
    assert (additive["h2_nonlinear"] == 0).all()
    assert set(additive["effect_kinds"]) <= {"additive", "none"}
    np.testing.assert_allclose(additive["h2_linear"], additive["h2_total"])
    variants = pd.read_csv(paths["truth_variants"], sep="\t")
    causal = variants[variants["causal"] == 1]
    assert set(causal["effect_kind"]) == {"additive"}
    # same seed: same genes, h² and causal variants, only the shape of the effects changes
    np.testing.assert_allclose(additive["h2_total"], truth["h2_total"])
    before = pd.read_csv(cohort["truth_variants"], sep="\t")
    before = before[before["causal"] == 1]
    assert causal[["gene_id", "pos"]].values.tolist() == before[["gene_id", "pos"]].values.tolist()


def test_nonlinear_kinds_restrict_the_effect_shapes(tmp_path):
    params = dict(PRESETS["tiny"], nonlinear_share=0.8, nonlinear_kinds="dominance,epistasis")
    genes = pd.read_csv(simulate_cohort(out_dir=tmp_path, **params)["truth_genes"], sep="\t")
    kinds = {k for row in genes["effect_kinds"] for k in row.split(",")}
    assert "threshold" not in kinds
    assert kinds & {"dominance", "epistasis"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("nonlinear_share", 1.5),
        ("h2_null_fraction", -0.1),
        ("n_individuals", 5),
        ("nonlinear_kinds", "recessive"),
        ("nonlinear_annotation_informativeness", -1.0),
    ],
)
def test_bad_parameters_are_named(tmp_path, key, value):
    with pytest.raises(InputError, match=key):
        simulate_cohort(out_dir=tmp_path, **dict(PRESETS["tiny"], **{key: value}))


# ----------------------------------------------------------------------------------------------
# Annotation-informed nonlinear carriers (nonlinear_annotation_informativeness)
# ----------------------------------------------------------------------------------------------

# Many heritable genes on a small cohort, most of their h² nonlinear, additive causal variants
# unrelated to annotations: enough carriers to measure their enrichment.
_NL_ANNOTATED = PRESETS["tiny"] | {
    "n_genes": 60,
    "h2_null_fraction": 0.0,
    "nonlinear_share": 0.7,
    "nonlinear_kinds": "dominance,epistasis",
    "annotation_informativeness": 0.0,
}
_MARKS = ["enhancer", "tf_binding"]


@pytest.fixture(scope="module")
def nl_cohorts(tmp_path_factory) -> dict[float, dict[str, str]]:
    """The cohort above with nonlinear_annotation_informativeness 0 and 6."""
    return {
        value: simulate_cohort(
            out_dir=tmp_path_factory.mktemp(f"nl_annotated_{value:g}"),
            **(_NL_ANNOTATED | {"nonlinear_annotation_informativeness": value}),
        )
        for value in (0.0, 6.0)
    }


def _annotated_variants(paths: dict[str, str]) -> pd.DataFrame:
    variants = pd.read_csv(paths["truth_variants"], sep="\t")
    ann = pd.read_parquet(paths["annotations"])[["chrom", "pos", *_MARKS]]
    variants = variants.merge(ann, on=["chrom", "pos"], how="left")
    variants["marked"] = variants[_MARKS].fillna(0).max(axis=1) > 0
    return variants


def _carrier_enrichment(variants: pd.DataFrame) -> tuple[float, int]:
    """(fraction of nonlinear carriers in enhancer / TF sites) / (same among window candidates
    with MAF >= 0.05), and the number of carriers."""
    nonlinear = variants["effect_kind"].str.contains("dominance|epistasis")
    carriers = variants[(variants["causal"] == 1) & nonlinear]
    window = variants[variants["maf"] >= PRESETS["tiny"]["causal_min_maf"]]
    return carriers["marked"].mean() / window["marked"].mean(), len(carriers)


def test_zero_nonlinear_informativeness_leaves_every_preset_unchanged(tmp_path):
    assert PRESETS["demo"]["nonlinear_annotation_informativeness"] == 0.0
    for name in ("demo", "linear", "nonlinear", "annotated", "tiny"):
        assert PRESETS[name]["nonlinear_annotation_informativeness"] == 0.0, name
    # the scenario presets' genetic model on the tiny cohort's size: absent == 0.0, byte for byte
    size = {"n_individuals": 60, "n_genes": 6, "chromosome_length_bp": 500_000, "window_bp": 50_000}
    for name in ("demo", "linear", "nonlinear"):
        params = PRESETS[name] | size
        absent = {k: v for k, v in params.items() if k != "nonlinear_annotation_informativeness"}
        simulate_cohort(out_dir=tmp_path / name / "absent", **absent)
        simulate_cohort(out_dir=tmp_path / name / "zero", **params)
        assert _all_files(tmp_path / name / "absent") == _all_files(tmp_path / name / "zero")


def test_nonlinear_annotated_preset():
    expected = PRESETS["nonlinear"] | {
        "annotation_informativeness": 0.0,
        "nonlinear_annotation_informativeness": 3.0,
    }
    assert PRESETS["nonlinear_annotated"] == expected
    assert expected["nonlinear_share"] == 0.7


def test_nonlinear_log_weight_marks_enhancers_and_tf_sites():
    from twasnet.simulate import causal_log_weight, nonlinear_log_weight

    z = np.eye(len(ANNOTATION_COLUMNS))
    dist = np.zeros(len(ANNOTATION_COLUMNS))
    w = nonlinear_log_weight(z, dist, nonlinear_annotation_informativeness=2.0, tss_proximity=3.0)
    marked = [ANNOTATION_COLUMNS.index(c) for c in _MARKS]
    assert (w[marked] > 0).all()
    assert (np.delete(w, marked) == 0).all()
    additive = causal_log_weight(z, dist, annotation_informativeness=2.0, tss_proximity=3.0)
    assert not np.allclose(w, additive)
    far = nonlinear_log_weight(
        z[:1] * 0, np.ones(1), nonlinear_annotation_informativeness=2.0, tss_proximity=3.0
    )
    np.testing.assert_allclose(far, -3.0)


def test_nonlinear_carriers_follow_the_annotations(nl_cohorts):
    ratio, n_carriers = _carrier_enrichment(_annotated_variants(nl_cohorts[6.0]))
    assert n_carriers >= 40
    assert ratio > 4, ratio
    ratio0, _ = _carrier_enrichment(_annotated_variants(nl_cohorts[0.0]))
    assert ratio0 < 2.5, ratio0


def test_nonlinear_carriers_are_recorded_as_pure_nonlinear_variants(nl_cohorts):
    before = pd.read_csv(nl_cohorts[0.0]["truth_variants"], sep="\t")
    after = pd.read_csv(nl_cohorts[6.0]["truth_variants"], sep="\t")
    genes = pd.read_csv(nl_cohorts[6.0]["truth_genes"], sep="\t")
    causal = after[after["causal"] == 1]
    additive = causal["effect_kind"].str.contains("additive")
    carriers = causal[~additive]
    assert len(carriers) > 0
    assert set(carriers["effect_kind"]) <= {"dominance", "epistasis", "dominance+epistasis"}
    assert (carriers["beta"] == 0).all() and (causal.loc[additive, "beta"] != 0).all()
    assert (carriers["maf"] >= PRESETS["tiny"]["causal_min_maf"]).all()
    # the additive causal variants and h² are those of the same seed without annotated carriers
    additive_before = before[before["effect_kind"].str.contains("additive")]
    key = ["gene_id", "pos"]
    assert causal.loc[additive, key].values.tolist() == additive_before[key].values.tolist()
    h2_before = pd.read_csv(nl_cohorts[0.0]["truth_genes"], sep="\t")["h2_total"]
    np.testing.assert_allclose(genes["h2_total"], h2_before)
    # n_causal counts every causal variant, carriers included
    counts = causal.groupby("gene_id").size().reindex(genes["gene_id"], fill_value=0)
    assert counts.tolist() == genes["n_causal"].tolist()


def test_nonlinear_carriers_keep_h2_bookkeeping(nl_cohorts):
    paths = nl_cohorts[6.0]
    truth = pd.read_csv(paths["truth_genes"], sep="\t")
    nonlinear = truth[truth["h2_nonlinear"] > 0]
    assert len(nonlinear) >= 0.5 * len(truth)
    np.testing.assert_allclose(nonlinear["h2_nonlinear"], 0.7 * nonlinear["h2_total"], atol=2e-6)
    g_all = _genetic_values(paths)
    samples = cyvcf2.VCF(paths["genotypes"].format(chrom="1")).samples
    for gene in nonlinear.itertuples():
        g = g_all.loc[gene.gene_id, samples].to_numpy()
        x = np.column_stack([np.ones(len(samples)), _causal_dosages(paths, gene.gene_id, samples)])
        resid = g - x @ np.linalg.lstsq(x, g, rcond=None)[0]
        # what an additive model on all causal variants (carriers included) misses is h2 * s
        assert abs(np.var(resid) / np.var(g) - 0.7) < 0.05, gene.gene_id
        assert abs(np.var(resid) - gene.h2_nonlinear) < 0.1 * gene.h2_nonlinear, gene.gene_id
