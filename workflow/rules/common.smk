"""Input functions and helpers shared by the rule files (no rules here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from twasnet.io.expression import read_expression_chromosomes  # noqa: E402
from twasnet.io.vcf import canonical_chrom, genotype_path  # noqa: E402
from twasnet.select import selected_genes  # noqa: E402


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
    return selected_genes(checkpoints.select_genes.get().output.table)


def gene_store(wildcards):
    rows = selected()
    chrom = rows.loc[rows["gene_id"] == wildcards.gene, "chrom"].astype(str).iloc[0]
    return store_files(chrom)


def fit_records(wildcards):
    rows = selected()
    return [
        f"results/fits/{model}/{gene}.split{split}.json"
        for model in config["models"]
        for gene, split in zip(rows["gene_id"], rows["split"])
    ]


def optional(path):
    return [path] if path else []


def final_outputs():
    outputs = ["results/tables/r2.tsv"]
    if config.get("truth"):
        outputs.append("results/tables/truth_evaluation.tsv")
    return outputs


def attempt_scaled(base):
    """A resource that grows with each retry of a failed job."""
    return lambda wildcards, attempt: base * attempt
