"""Input functions and helpers shared by the rule files (no rules here)."""

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from twasnet.io.expression import read_expression_chromosomes  # noqa: E402
from twasnet.io.vcf import canonical_chrom, genotype_path  # noqa: E402
from twasnet.select import selected_genes  # noqa: E402

DEEP_MODELS = ("cnn", "cnn_annot", "cnn_annot_local")
LINEAR_MODELS = ("enet", "enet_annot")
# The prior each annotation-aware model loads (fitted once per split over all selected genes).
PRIOR_FILES = {
    "enet_annot": "results/priors/enet_annot.split{split}.json",
    "cnn_annot": "results/priors/cnn_annot.split{split}.pt",
}
# twasnet's own cohort tables that every model-fitting rule reads.
COHORT_TABLES = {
    "samples": "results/cohort/samples.tsv",
    "expression": "results/cohort/expression.parquet",
    "covariates": "results/cohort/covariates.parquet",
    "split": "results/split/split.tsv",
}


def chromosomes():
    """Canonical chromosome names to process: from config, else those of the expression file."""
    listed = config["genotypes"]["chromosomes"]
    if listed:
        return [canonical_chrom(str(c)) for c in listed]
    if not Path(config["expression"]).exists():
        return []  # Snakemake then reports the missing expression file itself
    return read_expression_chromosomes(config["expression"])


def genotype_file(chrom):
    return genotype_path(config["genotypes"]["path"], chrom)


def genotype_files():
    return sorted({genotype_file(c) for c in chromosomes()})


def store_files(chrom):
    return {
        "dosages": f"results/cis/{chrom}/dosages.npy",
        "variants": f"results/cis/{chrom}/variants.parquet",
        "genes": f"results/cis/{chrom}/genes.tsv",
    }


def all_store_files(wildcards):
    return [f for c in chromosomes() for f in store_files(c).values()]


def selected(wildcards=None):
    """Selected (gene_id, chrom, split) rows, available once the select_genes checkpoint ran."""
    path = checkpoints.select_genes.get().output.table
    return _read_selected(path, Path(path).stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_selected(path, mtime_ns):
    """selection.tsv read once per (path, mtime), not once per job of the DAG."""
    return selected_genes(path)


def gene_inputs(wildcards):
    """The cis store of the gene's chromosome (a wildcard of the fit's path), and its prior."""
    inputs = store_files(wildcards.chrom)
    if wildcards.model in PRIOR_FILES:
        inputs["prior"] = PRIOR_FILES[wildcards.model].format(split=wildcards.split)
    return inputs


# The one place that knows where per-gene fit results live: sharded by model and chromosome,
# so that 20,000 genes x 5 models do not put 100,000s of files in one directory.
FIT_STEM = "results/fits/{model}/{chrom}/{gene}.split{split}"


def fit_outputs(artefact_suffix):
    """The four outputs of a per-gene fit; the artefact is JSON (linear) or torch (deep)."""
    return {
        "record": f"{FIT_STEM}.json",
        "predictions": f"{FIT_STEM}.predictions.tsv",
        "importance": f"{FIT_STEM}.importance.tsv",
        "artefact": f"{FIT_STEM}.model.{artefact_suffix}",
    }


def fit_log(kind):
    """Per-gene log or benchmark path of a fit (``kind``: logs or benchmarks), sharded the same."""
    return FIT_STEM.replace("results/fits/", f"results/{kind}/train/") + (
        ".log" if kind == "logs" else ".tsv"
    )


def fit_files(kind):
    """Input function: one file of ``kind`` (json, importance.tsv, ...) per model x selected gene."""

    def files(wildcards):
        rows = selected()
        return [
            f"{FIT_STEM}.{kind}".format(
                model=model, chrom=chrom, gene=gene, split=split
            )
            for model in config["models"]
            for gene, chrom, split in zip(rows["gene_id"], rows["chrom"], rows["split"])
        ]

    return files


def optional(path):
    return [path] if path else []


def final_outputs():
    outputs = ["results/tables/r2.tsv"]
    if config["truth"]["genes"]:
        outputs.append("results/tables/truth_evaluation.tsv")
    return outputs


def attempt_scaled(base):
    """A resource that grows with each retry of a failed job."""
    return lambda wildcards, attempt: base * attempt
