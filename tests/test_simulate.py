"""`twasnet simulate`: readable input-format files, reproducible, with honest truth."""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, fields, replace
from pathlib import Path

import cyvcf2
import numpy as np
import pandas as pd
import pytest

from twasnet.cli import main
from twasnet.errors import InputError
from twasnet.simulate import (
    ANNOTATION_COLUMNS,
    PRESETS,
    TARGET_PARAMETERS,
    SimulationParameters,
    simulate_cohort,
)
from twasnet.simulate.params import parse_settings

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


def test_presets_are_parameters_and_leave_the_target_cohort_at_its_defaults():
    # the optional target cohort's parameters are not part of the presets (--target N sets it)
    defaults = {f.name: f.default for f in fields(SimulationParameters)}
    for name, preset in PRESETS.items():
        assert isinstance(preset, SimulationParameters), name
        for key, default in TARGET_PARAMETERS.items():
            assert getattr(preset, key) == default, (name, key)
    for key, default in TARGET_PARAMETERS.items():
        assert defaults[key] == default, key
    assert set(TARGET_PARAMETERS) == {"n_target"} | {k for k in defaults if k.startswith("target_")}


# What each derived preset changes in its parent (README, "Simulated cohorts"); nothing else.
DERIVED_PRESETS = {
    "linear": (
        "demo",
        {
            "n_genes": 80,
            "h2_null_fraction": 0.25,
            "nonlinear_share": 0.0,
            "annotation_informativeness": 0.0,
        },
    ),
    "nonlinear": (
        "linear",
        {
            "nonlinear_share": 0.7,
            "nonlinear_kinds": "dominance,epistasis",
            "annotation_informativeness": 2.0,
        },
    ),
    "nonlinear_annotated": (
        "nonlinear",
        {"annotation_informativeness": 0.0, "nonlinear_annotation_informativeness": 3.0},
    ),
    "annotated": (
        "linear",
        {"causal_min": 10, "causal_max": 30, "annotation_informativeness": 3.0},
    ),
    "tiny": (
        "demo",
        {
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
        },
    ),
}


def test_derived_presets_differ_from_their_parent_only_in_the_documented_fields():
    assert set(PRESETS) == {"demo"} | set(DERIVED_PRESETS)
    for name, (parent, changes) in DERIVED_PRESETS.items():
        before, after = asdict(PRESETS[parent]), asdict(PRESETS[name])
        changed = {k: v for k, v in after.items() if before[k] != v}
        assert changed == changes, name
    # the demo states the fields that have no default and leaves the others at their defaults
    demo = asdict(PRESETS["demo"])
    for f in fields(SimulationParameters):
        if f.default is not MISSING:
            assert demo[f.name] == f.default, f.name


def test_cli_offers_every_preset(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    help_text = capsys.readouterr().out
    assert "{" + ",".join(sorted(PRESETS)) + "}" in help_text


def test_set_parses_each_value_with_its_fields_type():
    settings = parse_settings(
        [
            "n_genes=6",
            "nonlinear_share=0.5",
            "nonlinear_kinds=dominance,epistasis",
            "target_binary=true",
            "population_size=2e4",
        ]
    )
    assert settings == {
        "n_genes": 6,
        "nonlinear_share": 0.5,
        "nonlinear_kinds": "dominance,epistasis",
        "target_binary": True,
        "population_size": 20000.0,
    }
    assert [type(v) for v in settings.values()] == [int, float, str, bool, float]
    assert parse_settings(["target_binary=no"]) == {"target_binary": False}
    with pytest.raises(InputError, match="n_genes takes an integer"):
        parse_settings(["n_genes=2.5"])
    with pytest.raises(InputError, match="target_binary takes true or false"):
        parse_settings(["target_binary=maybe"])


def test_cli_names_an_unknown_key_and_an_out_of_range_value(tmp_path, capsys):
    assert main(["simulate", "--preset", "tiny", "--set", "n_gene=6", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--set 'n_gene=6'" in err
    # the valid keys are listed, every one of them
    assert all(f.name in err for f in fields(SimulationParameters))
    assert main(["simulate", "--set", "nonlinear_share=1.5", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nonlinear_share=1.5 must lie in [0, 1]" in err
    assert main(["simulate", "--set", "nonlinear_share", "--out", str(tmp_path)]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def test_simulation_json_records_every_parameter(cohort):
    recorded = json.loads(Path(cohort["simulation"]).read_text())["parameters"]
    assert list(recorded) == [f.name for f in fields(SimulationParameters)]
    assert recorded == asdict(PRESETS["tiny"])


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
    recorded = json.loads(Path(cohort["simulation"]).read_text())["samples"]
    assert recorded["expression_without_genotypes"] == sorted(expressed - genotyped)
    assert recorded["genotyped_without_expression"] == sorted(genotyped - expressed)


def test_recorded_samples_are_the_eqtl_cohorts_with_a_target_cohort_too(tmp_path):
    paths = simulate_cohort(replace(PRESETS["tiny"], n_target=5), out_dir=tmp_path)
    genotyped = set(cyvcf2.VCF(paths["genotypes"].format(chrom="1")).samples)
    expressed = set(pd.read_csv(paths["expression"], sep="\t", nrows=0).columns[4:])
    recorded = json.loads(Path(paths["simulation"]).read_text())["samples"]
    assert recorded["expression_without_genotypes"] == sorted(expressed - genotyped)


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
    window = PRESETS["tiny"].window_bp
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
    simulate_cohort(PRESETS["tiny"], out_dir=tmp_path / "again")
    assert _all_files(tmp_path / "again") == first
    other = replace(PRESETS["tiny"], seed=PRESETS["tiny"].seed + 1)
    simulate_cohort(other, out_dir=tmp_path / "other")
    changed = _all_files(tmp_path / "other")
    for name in ("genotypes/chr1.vcf.gz", "expression.bed.gz", "truth_genes.tsv"):
        assert changed[name] != first[name], name


def test_nonlinear_share_zero_gives_purely_additive_genes(cohort, truth, tmp_path):
    paths = simulate_cohort(replace(PRESETS["tiny"], nonlinear_share=0.0), out_dir=tmp_path)
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
    params = replace(PRESETS["tiny"], nonlinear_share=0.8, nonlinear_kinds="dominance,epistasis")
    genes = pd.read_csv(simulate_cohort(params, out_dir=tmp_path)["truth_genes"], sep="\t")
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
        ("n_genes", 2.5),
        ("causal_max", 0),
        ("target_phenotype_h2", 0.95),
        ("target_binary", "yes"),
        ("mutation_rate", float("inf")),
    ],
)
def test_bad_parameters_are_named(key, value):
    with pytest.raises(InputError, match=key):
        replace(PRESETS["tiny"], **{key: value})


# ----------------------------------------------------------------------------------------------
# Annotation-informed nonlinear carriers (nonlinear_annotation_informativeness)
# ----------------------------------------------------------------------------------------------

# Many heritable genes on a small cohort, most of their h² nonlinear, additive causal variants
# unrelated to annotations: enough carriers to measure their enrichment.
_NL_ANNOTATED = replace(
    PRESETS["tiny"],
    n_genes=60,
    h2_null_fraction=0.0,
    nonlinear_share=0.7,
    nonlinear_kinds="dominance,epistasis",
    annotation_informativeness=0.0,
)
_MARKS = ["enhancer", "tf_binding"]


@pytest.fixture(scope="module")
def nl_cohorts(tmp_path_factory) -> dict[float, dict[str, str]]:
    """The cohort above with nonlinear_annotation_informativeness 0 and 6."""
    return {
        value: simulate_cohort(
            replace(_NL_ANNOTATED, nonlinear_annotation_informativeness=value),
            out_dir=tmp_path_factory.mktemp(f"nl_annotated_{value:g}"),
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
    window = variants[variants["maf"] >= PRESETS["tiny"].causal_min_maf]
    return carriers["marked"].mean() / window["marked"].mean(), len(carriers)


def test_zero_nonlinear_informativeness_leaves_every_preset_unchanged(tmp_path):
    assert PRESETS["demo"].nonlinear_annotation_informativeness == 0.0
    for name in ("demo", "linear", "nonlinear", "annotated", "tiny"):
        assert PRESETS[name].nonlinear_annotation_informativeness == 0.0, name
    # the scenario presets' genetic model on the tiny cohort's size: absent == 0.0, byte for byte
    size = {"n_individuals": 60, "n_genes": 6, "chromosome_length_bp": 500_000, "window_bp": 50_000}
    for name in ("demo", "linear", "nonlinear"):
        params = replace(PRESETS[name], **size)
        absent = asdict(params)
        del absent["nonlinear_annotation_informativeness"]
        simulate_cohort(SimulationParameters(**absent), out_dir=tmp_path / name / "absent")
        simulate_cohort(params, out_dir=tmp_path / name / "zero")
        assert _all_files(tmp_path / name / "absent") == _all_files(tmp_path / name / "zero")


def test_nonlinear_annotated_preset():
    expected = replace(
        PRESETS["nonlinear"],
        annotation_informativeness=0.0,
        nonlinear_annotation_informativeness=3.0,
    )
    assert PRESETS["nonlinear_annotated"] == expected
    assert expected.nonlinear_share == 0.7


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
    assert (carriers["maf"] >= PRESETS["tiny"].causal_min_maf).all()
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
