"""Provenance, PredictDB export and stage 2 (predict, associate) on the real workflow: the shared
run (tests/conftest.py), whose tiny cohort has a simulated target cohort."""

from __future__ import annotations

import gzip
import hashlib
import json

import numpy as np
import pandas as pd
import pysam
import pytest
from conftest import run_workflow

from twasnet.associate import associate_genes, marginal_z, spredixcan_z
from twasnet.cli import main
from twasnet.export.artefact import find_artefacts, load_artefact
from twasnet.export.predictdb import check_predictdb, read_covariance, read_predictdb
from twasnet.export.stages import read_target_genotypes
from twasnet.io.expression import read_expression_bed
from twasnet.predict import VariantCoverageWarning, match_variants, variant_spans
from twasnet.provenance import compare_runs, config_hash


@pytest.fixture(scope="module")
def target_cohort(shared_run) -> dict[str, str]:
    return shared_run.cohort


@pytest.fixture(scope="module")
def stage2(shared_run):
    return shared_run.workdir, shared_run.config


def test_compare_runs_reports_a_changed_cell(stage2, tmp_path):
    workdir, _ = stage2
    tables = workdir / "results/tables"
    changed = tmp_path / "tables"
    changed.mkdir()
    r2 = pd.read_csv(tables / "r2.tsv", sep="\t", dtype=str)
    r2.loc[2, "r2_pearson"] = "0.5"
    r2.to_csv(changed / "r2.tsv", sep="\t", index=False)
    report = compare_runs(tables, changed, tables=["r2.tsv"]).set_index("table")
    assert report.loc["r2.tsv", "status"] == "different"
    assert "row 3, column r2_pearson" in report.loc["r2.tsv", "differences"]


def test_provenance_lists_every_input_with_its_hash(stage2, target_cohort):
    workdir, config = stage2
    record = json.loads((workdir / "results/provenance.json").read_text())
    expected = [target_cohort["genotypes"].format(chrom=c) for c in (1, 2)] + [
        target_cohort[k]
        for k in ("expression", "covariates", "annotations", "truth_genes", "truth_variants")
    ]
    expected += [target_cohort["target_genotypes"].format(chrom=c) for c in (1, 2)]
    expected += [target_cohort["target_phenotype"], target_cohort["target_covariates"]]
    for path in expected:
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        assert record["inputs"][path]["sha256"] == digest, path
    assert record["config_sha256"] == config_hash(record["config"])
    assert record["config"]["seed"] == config["seed"] and record["config"]["export"]["build"]
    assert record["packages"]["numpy"] and record["python"] and record["git"]["commit"]
    assert record["run"]["started"] <= record["run"]["finished"]


def test_predictdb_files_pass_the_schema_check_and_hold_the_models(stage2):
    workdir, _ = stage2
    db = workdir / "results/export/predictdb/enet.split0.db"
    cov = workdir / "results/export/predictdb/enet.split0.covariances.txt.gz"
    check_predictdb(db, cov)
    tables = read_predictdb(db)
    weights, extra = tables["weights"], tables["extra"]
    assert weights["varID"].str.fullmatch(r"chr\d+_\d+_[ACGT]_[ACGT]_b38").all()
    assert weights["rsid"].str.startswith(("rs", "chr")).all()
    assert {"h2", "h2.pval", "heldout.R2"} <= set(extra.columns)
    r2 = pd.read_csv(workdir / "results/tables/r2.tsv", sep="\t").query("model == 'enet'")
    merged = extra.merge(r2, left_on="gene", right_on="gene_id")
    np.testing.assert_allclose(merged["pred.perf.R2"], merged["r2_pearson"], rtol=1e-5)
    with gzip.open(cov, "rt") as handle:
        assert handle.readline().split() == ["GENE", "RSID1", "RSID2", "VALUE"]
    construction = tables["construction"]
    assert list(construction.columns) == ["chr", "cv.seed"]  # PredictDB's names
    assert sorted(construction["chr"]) == sorted({g.split("_")[0][3:] for g in weights["varID"]})


def test_a_covariance_file_per_snp_key_names_the_weights_of_that_key(stage2):
    """S-PrediXcan --model_db_snp_key rsid reads .covariances.txt.gz, varID reads
    .covariances.varID.txt.gz: each names every model SNP by that weights column, with the same
    values; the rsid file fails the varID check (the tiny cohort's VCF has rs IDs)."""
    from twasnet.errors import InputError

    workdir, _ = stage2
    export = workdir / "results/export/predictdb"
    db = export / "enet.split0.db"
    weights = read_predictdb(db)["weights"]
    assert (weights["rsid"] != weights["varID"]).mean() > 0.5
    files = {"rsid": "covariances.txt.gz", "varID": "covariances.varID.txt.gz"}
    frames = {}
    for key, name in files.items():
        check_predictdb(db, export / f"enet.split0.{name}", snp_key=key)
        frames[key] = cov = read_covariance(export / f"enet.split0.{name}")
        for gene, rows in cov.groupby("GENE"):
            model = set(weights.loc[weights["gene"] == gene, key])
            assert set(rows["RSID1"]) | set(rows["RSID2"]) == model, (key, gene)
    np.testing.assert_array_equal(frames["rsid"]["VALUE"], frames["varID"]["VALUE"])
    with pytest.raises(InputError, match="--model_db_snp_key varID"):
        check_predictdb(db, export / "enet.split0.covariances.txt.gz", snp_key="varID")
    genes = pd.read_csv(export / "enet.split0.genes.tsv", sep="\t")
    r2 = pd.read_csv(workdir / "results/tables/r2.tsv", sep="\t").query("model == 'enet'")
    assert sorted(genes["gene_id"]) == sorted(r2["gene_id"])  # every gene, exported or not
    exported = genes.loc[genes["exported"], "gene_id"]
    assert sorted(exported) == sorted(weights["gene"].unique())
    assert genes.loc[~genes["exported"], "reason"].astype(str).str.len().gt(0).all()


def test_export_filter_leaves_out_poor_genes_and_lists_them_with_the_reason(stage2, tmp_path):
    """export.filter {r2_min: 0.01, p_max: 0.05}: only the export reruns; the genes left out are
    in genes.tsv with the reason and counted in a console warning."""
    import shutil

    workdir, config = stage2
    other = tmp_path / "filtered"
    shutil.copytree(workdir, other, symlinks=True)  # the shared run is only ever read
    config = config | {"export": {"filter": {"r2_min": 0.01, "p_max": 0.05}}}
    target = "results/export/predictdb/enet.split0.db"
    proc = run_workflow(other, config, target)
    assert "rule export_predictdb" in proc.stderr and "rule train" not in proc.stderr
    export = other / "results/export/predictdb"
    genes = pd.read_csv(export / "enet.split0.genes.tsv", sep="\t")
    passes = genes["pearson_r"].gt(0) & genes["r2_pearson"].gt(0.01) & genes["pearson_p"].lt(0.05)
    modelled = genes["n_snps"].gt(0)
    assert genes["exported"].tolist() == (passes & modelled).tolist()
    filtered = genes[modelled & ~passes]
    assert len(filtered) > 0 and genes["exported"].any()
    assert filtered["reason"].str.startswith("filtered out by export.filter: ").all()
    weights = read_predictdb(other / target)["weights"]
    assert sorted(weights["gene"].unique()) == sorted(genes.loc[genes["exported"], "gene_id"])
    check_predictdb(
        other / target, export / "enet.split0.covariances.varID.txt.gz", snp_key="varID"
    )
    expected = f"export.filter (r2_min 0.01, p_max 0.05) left out {len(filtered)} of"
    assert expected in proc.stderr
    log = (other / "results/logs/export/enet.split0.log").read_text()
    for gene in filtered["gene_id"]:
        assert f"PredictDB: {gene} left out: filtered out by export.filter" in log


def test_schema_check_rejects_a_broken_file(stage2, tmp_path):
    import sqlite3

    from twasnet.errors import InputError

    workdir, _ = stage2
    broken = tmp_path / "broken.db"
    broken.write_bytes((workdir / "results/export/predictdb/enet.split0.db").read_bytes())
    with sqlite3.connect(broken) as connection:
        connection.execute('UPDATE extra SET "n.snps.in.model" = "n.snps.in.model" + 1')
    with pytest.raises(InputError, match="n.snps.in.model"):
        check_predictdb(broken)


def test_spredixcan_z_from_gwas_summaries_agrees_with_individual_level_z(stage2, target_cohort):
    """z_g = Σ_j w_j σ_j z_j / σ_g with the exported weights and covariances, on GWAS z-scores of
    the target cohort, against the regression of the phenotype on predicted expression."""
    workdir, _ = stage2
    tables = read_predictdb(workdir / "results/export/predictdb/enet.split0.db")
    cov = read_covariance(workdir / "results/export/predictdb/enet.split0.covariances.txt.gz")
    models = [load_artefact(p) for p in find_artefacts(workdir / "results", models=["enet"])]
    variants, dosages, samples = read_target_genotypes(
        target_cohort["target_genotypes"],
        spans=variant_spans(models),
        samples=None,
        dosage_field=None,
    )
    phenotype = pd.read_csv(target_cohort["target_phenotype"], sep="\t").set_index("sample")
    y = phenotype.loc[samples, "phenotype"].to_numpy()
    predicted = read_expression_bed(str(workdir / "results/target/predictions/enet.split0.bed.gz"))
    summary, individual = [], []
    for gene, w in tables["weights"].groupby("gene"):
        parts = w["varID"].str.split("_", expand=True)
        snps = pd.DataFrame(
            {
                "chrom": parts[0].str[3:],
                "pos": parts[1].astype(int),
                "ref": parts[2],
                "alt": parts[3],
            }
        )
        rows = match_variants(snps, variants)["row"].to_numpy()
        assert (rows >= 0).all()
        z = marginal_z(y, dosages[rows].T.astype(np.float64))
        c = cov[cov["GENE"] == gene]
        k = {r: i for i, r in enumerate(w["rsid"])}
        sigma = np.zeros((len(k), len(k)))
        for r1, r2, v in zip(c["RSID1"], c["RSID2"], c["VALUE"], strict=True):
            sigma[k[r1], k[r2]] = sigma[k[r2], k[r1]] = v
        summary.append(spredixcan_z(w["weight"].to_numpy(), sigma, z))
        grex = predicted.values.loc[gene, samples].to_numpy()[None, :]
        individual.append(associate_genes(y, grex)["statistic"].iloc[0])
    assert len(summary) >= 4
    correlation = np.corrcoef(summary, individual)[0, 1]
    print(f"S-PrediXcan vs individual-level z across {len(summary)} genes: r = {correlation:.3f}")
    assert correlation >= 0.9


def test_predict_on_training_genotypes_reproduces_stored_held_out_predictions(
    stage2, target_cohort, tmp_path
):
    workdir, _ = stage2
    samples = workdir / "results/cohort/samples.tsv"
    ids = tmp_path / "samples.txt"
    ids.write_text("\n".join(pd.read_csv(samples, sep="\t")["sample"].astype(str)) + "\n")
    out = tmp_path / "pred"
    code = main(
        [
            "predict",
            "--genotypes",
            target_cohort["genotypes"],
            "--results",
            str(workdir / "results"),
            "--samples",
            str(ids),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    for model in ("enet", "cnn"):
        table = pd.read_parquet(out / f"{model}.split0.parquet").set_index("gene_id")
        stored = sorted((workdir / "results/fits" / model).glob("*/*.predictions.tsv"))
        assert len(stored) == len(table)
        for path in stored:
            gene = path.name.split(".split")[0]
            held = pd.read_csv(path, sep="\t", dtype={"predicted": str})
            ours = table.loc[gene, held["sample"]].to_numpy()
            assert [f"{v:.6g}" for v in ours] == list(held["predicted"]), (model, gene)


def test_predict_warns_and_still_predicts_with_30_percent_of_variants_missing(
    stage2, target_cohort, tmp_path
):
    workdir, _ = stage2
    gene = load_artefact(find_artefacts(workdir / "results", models=["enet"])[0])
    chrom = gene.variants["chrom"].iloc[0]
    rng = np.random.default_rng(1)
    drop = set(rng.choice(gene.variants["pos"], size=int(0.3 * len(gene.variants)), replace=False))
    source = target_cohort["target_genotypes"].format(chrom=chrom)
    folder = tmp_path / "vcf"
    folder.mkdir()
    for c in (1, 2):
        src = target_cohort["target_genotypes"].format(chrom=c)
        text = tmp_path / f"chr{c}.vcf"
        with gzip.open(src, "rt") as handle, open(text, "w") as sink:
            for line in handle:
                if src == source and not line.startswith("#"):
                    if int(line.split("\t", 2)[1]) in drop:
                        continue
                sink.write(line)
        pysam.tabix_index(str(text), preset="vcf", force=True, keep_original=False)
        (tmp_path / f"chr{c}.vcf.gz").rename(folder / f"chr{c}.vcf.gz")
        (tmp_path / f"chr{c}.vcf.gz.tbi").rename(folder / f"chr{c}.vcf.gz.tbi")
    out = tmp_path / "pred"
    with pytest.warns(VariantCoverageWarning, match=gene.gene_id):
        code = main(
            [
                "predict",
                "--genotypes",
                str(folder / "chr{chrom}.vcf.gz"),
                "--results",
                str(workdir / "results"),
                "--models",
                "enet",
                "--out",
                str(out),
            ]
        )
    assert code == 0
    coverage = pd.read_csv(out / "coverage.tsv", sep="\t").set_index("gene_id")
    assert coverage.loc[gene.gene_id, "fraction_found"] == pytest.approx(0.7, abs=0.01)
    assert coverage.loc[gene.gene_id, "warning"].startswith("enet")
    for other in find_artefacts(workdir / "results", models=["enet"]):
        model = load_artefact(other)
        on_chrom = model.variants["chrom"] == chrom
        lost = (on_chrom & model.variants["pos"].isin(drop)).sum()
        expected = 1 - lost / len(model.variants)
        assert coverage.loc[model.gene_id, "fraction_found"] == pytest.approx(expected)
    table = pd.read_parquet(out / "enet.split0.parquet").set_index("gene_id")
    assert np.isfinite(table.loc[gene.gene_id].iloc[3:].to_numpy(dtype=float)).all()


def test_associate_finds_the_genes_that_drive_the_phenotype(stage2, target_cohort):
    workdir, _ = stage2
    twas = pd.read_csv(workdir / "results/target/twas.tsv", sep="\t")
    truth = pd.read_csv(target_cohort["target_truth"], sep="\t")
    causal = set(truth.loc[truth["causal"] == 1, "gene_id"])
    for model, table in twas.groupby("model"):
        hits = set(table.loc[table["fdr"] < 0.05, "gene_id"])
        print(
            f"{model}: power {len(hits & causal)}/{len(causal)}, "
            f"false positives {len(hits - causal)}/{len(table) - len(causal)} at FDR 5%"
        )
    enet = twas[twas["model"] == "enet"]
    hits = set(enet.loc[enet["fdr"] < 0.05, "gene_id"])
    assert len(hits & causal) >= 2
    assert len(hits - causal) <= 1


def test_target_cohort_is_other_individuals_on_the_same_variants(target_cohort):
    from twasnet.io.vcf import vcf_samples

    train = target_cohort["genotypes"].format(chrom=1)
    target = target_cohort["target_genotypes"].format(chrom=1)
    assert not set(vcf_samples(train)) & set(vcf_samples(target))
    assert len(vcf_samples(target)) == 300

    def records(path):
        with gzip.open(path, "rt") as handle:
            return [line.split("\t", 5)[:5] for line in handle if not line.startswith("#")]

    assert records(train) == records(target)
    truth = pd.read_csv(target_cohort["target_truth"], sep="\t")
    assert truth["causal"].sum() == 3
    assert (truth.loc[truth["causal"] == 1, "h2_expression"] > 0).all()
    phenotype = pd.read_csv(target_cohort["target_phenotype"], sep="\t")
    assert list(phenotype["sample"]) == vcf_samples(target)
