"""Input functions and helpers shared by the rule files (no rules here)."""

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from twasnet.cohort import missing_genotypes_message  # noqa: E402
from twasnet.errors import InputError  # noqa: E402
from twasnet.io.expression import read_expression_chromosomes  # noqa: E402
from twasnet.io.genotypes import genotype_index as genotype_index_path  # noqa: E402
from twasnet.io.genotypes import sample_file, sibling_files  # noqa: E402
from twasnet.io.variants import canonical_chrom  # noqa: E402
from twasnet.io.vcf import genotype_path  # noqa: E402
from twasnet.models import registry  # noqa: E402

# Model families come from the one catalogue (twasnet/models/registry.py).
DEEP_MODELS = registry.models_of("deep")
LINEAR_MODELS = registry.models_of("linear")
EXPORTABLE_MODELS = registry.exportable_models()
# The prior each annotation-aware model loads (fitted once per split over all selected genes).
PRIOR_FILES = {
    name: f"results/priors/{name}.split{{split}}.{registry.MODELS[name].prior.suffix}"
    for name in registry.prior_models()
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


def require_genotype_files():
    """At start: an InputError naming each chromosome to process whose genotype
    file (genotypes.path; target.genotypes when set) does not exist, its genes and
    what to do."""
    patterns = {"genotypes.path": config["genotypes"]["path"]}
    patterns["target.genotypes"] = config["target"]["genotypes"]
    for key, pattern in patterns.items():
        files = {c: genotype_path(pattern, c) for c in chromosomes()} if pattern else {}
        missing = {c: f for c, f in files.items() if not Path(f).exists()}
        if missing:
            raise InputError(
                missing_genotypes_message(
                    key,
                    pattern,
                    missing,
                    chromosomes=chromosomes(),
                    expression_path=config["expression"],
                    listed=bool(config["genotypes"]["chromosomes"]),
                )
            )


require_genotype_files()


def require_results_directory():
    """At start: an InputError when results/, where every output goes, exists but
    is not a directory (a file, or a link to nothing)."""
    results = Path("results")
    if results.is_dir() or not (results.exists() or results.is_symlink()):
        return
    kind = "a file" if results.exists() else "a link to a path that does not exist"
    raise InputError(
        f"{str(results.absolute())!r} is {kind}, not a directory: the workflow writes "
        "every output under results/. Move or rename it (e.g. `mv results "
        "results.old`), or run the workflow in another directory (snakemake "
        "--directory DIR)."
    )


require_results_directory()


def genotype_index(wildcards):
    """Input function: the index of {chrom}'s VCF/BCF file, so that re-indexing
    it (tabix -f) reruns the rule reading it; none where there is none (the
    rule's script then says how to make one) and none for PLINK files."""
    index = genotype_index_path(genotype_file(wildcards.chrom))
    return [index] if index else []


def genotype_siblings(wildcards):
    """Input function: the text files read with {chrom}'s PLINK genotype file
    (.bim and .fam beside a .bed, .pvar and .psam beside a .pgen), so that a
    change to any of the three reruns the rule; none for VCF/BCF. One that does
    not exist is left out, for the rule's script to say what to do."""
    return existing_siblings([genotype_file(wildcards.chrom)])


def genotype_sample_files():
    """The .fam / .psam beside every PLINK genotype file, where prepare_cohort
    reads the sample ids (none for VCF/BCF: their own header holds them)."""
    files = {sample_file(f) for f in genotype_files()} - {None}
    return sorted(f for f in files if Path(f).exists())


def existing_siblings(paths):
    return sorted({s for f in paths for s in sibling_files(f) if Path(s).exists()})


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
    # imported here, not at parse time: every parse (also each cluster job's) would pay for it
    from twasnet.select import selected_genes

    return selected_genes(path)


def gene_inputs(wildcards):
    """The cis store of the chunk's chromosome (a wildcard of its path), and the model's prior."""
    inputs = store_files(wildcards.chrom)
    if wildcards.model in PRIOR_FILES:
        inputs["prior"] = PRIOR_FILES[wildcards.model].format(split=wildcards.split)
    return inputs


# The one place that knows where per-gene fit results live: sharded by model and chromosome,
# so that 20,000 genes x 5 models do not put 100,000s of files in one directory.
FIT_STEM = "results/fits/{model}/{chrom}/{gene}.split{split}"
# Genes are fitted in chunks: one job trains one model on up to train.genes_per_job selected
# genes of one chromosome and split, one after another, and writes every gene's files under
# FIT_STEM plus the chunk's table of contents here (gene_id, status, reason and the gene's four
# paths). That table is the job's only declared output and what the rules reading per-gene
# fits take as input; their scripts find the files through it (store.chunk_fit_paths).
# 20,000 genes x 5 models are then ~100,000 / genes_per_job jobs rather than 100,000
# (a DAG of 100,000 jobs did not build in 36 min; README: how long a whole transcriptome takes).
CHUNK_STEM = "results/chunks/{model}/{chrom}/chunk{chunk}.split{split}"


def fit_outputs(artefact_suffix):
    """The four files of one gene's fit; the artefact is JSON (linear) or torch (deep)."""
    return {
        "record": f"{FIT_STEM}.json",
        "predictions": f"{FIT_STEM}.predictions.tsv",
        "importance": f"{FIT_STEM}.importance.tsv",
        "artefact": f"{FIT_STEM}.model.{artefact_suffix}",
    }


def chunk_log(kind):
    """Log or benchmark path of a chunk job (``kind``: logs or benchmarks), sharded the same."""
    return CHUNK_STEM.replace("results/chunks/", f"results/{kind}/train/") + (
        ".log" if kind == "logs" else ".tsv"
    )


def gene_chunks(selection=None):
    """{(split, chrom): [[gene_id, ...], ...]}: each split's selected genes of one chromosome in
    selection.tsv order, cut into consecutive chunks of train.genes_per_job. ``selection``: the
    table's path where a job has it as input; else through the checkpoint."""
    path = selection or checkpoints.select_genes.get().output.table
    return _gene_chunks(
        path, Path(path).stat().st_mtime_ns, config["train"]["genes_per_job"]
    )


@functools.lru_cache(maxsize=4)
def _gene_chunks(path, mtime_ns, size):
    rows = _read_selected(path, mtime_ns)
    genes = {}
    for gene, chrom, split in zip(rows["gene_id"], rows["chrom"], rows["split"]):
        genes.setdefault((int(split), str(chrom)), []).append(str(gene))
    return {
        key: [ids[i : i + size] for i in range(0, len(ids), size)]
        for key, ids in genes.items()
    }


def chunk_genes(wildcards, input):
    """Params function: the gene ids of the chunk job's {split}, {chrom} and {chunk}, from its
    input selection.tsv (not through the checkpoint, which the DAG of a cluster job's own
    snakemake does not hold)."""
    chunks = gene_chunks(input.selection)[(int(wildcards.split), wildcards.chrom)]
    return chunks[int(wildcards.chunk)]


def chunk_fit_outputs(artefact_suffix):
    """Params function: per gene of the chunk, its four output paths (``fit_outputs``)."""

    def outputs(wildcards, input):
        return [
            {
                name: path.format(
                    model=wildcards.model,
                    chrom=wildcards.chrom,
                    gene=gene,
                    split=wildcards.split,
                )
                for name, path in fit_outputs(artefact_suffix).items()
            }
            for gene in chunk_genes(wildcards, input)
        ]

    return outputs


def chunk_scaled(base, per_gene):
    """Runtime of a chunk job: base + per_gene x its genes (they run one after another), and
    all of it again with each retry of a failed job."""
    return (
        lambda wildcards, input, attempt: (
            base + per_gene * len(chunk_genes(wildcards, input))
        )
        * attempt
    )


def chunk_files(wildcards=None, models=None, split=None):
    """Input function: the table of every chunk of ``models`` (default: config) [x one split]."""
    return [
        f"{CHUNK_STEM}.tsv".format(model=model, chrom=chrom, chunk=i, split=s)
        for model in models or config["models"]
        for (s, chrom), chunks in gene_chunks().items()
        if split is None or s == int(split)
        for i in range(len(chunks))
    ]


def model_split_chunk_files(wildcards):
    """Input function: the chunks of {model} and {split}."""
    return chunk_files(models=[wildcards.model], split=wildcards.split)


def optional(path):
    return [path] if path else []


def final_outputs():
    outputs = ["results/tables/r2.tsv"]
    if config["truth"]["genes"]:
        outputs.append("results/tables/truth_evaluation.tsv")
    outputs += comparison_outputs()
    outputs += export_outputs()
    return outputs


def attempt_scaled(base):
    """A resource that grows with each retry of a failed job."""
    return lambda wildcards, attempt: base * attempt


# ---- comparison (tables, figures, report) ----
COMPARISON_FIGURES = ("pairs", "delta", "h2", "importance")


def figure_file(name, ext):
    return f"results/figures/{name}.{ext}"


def comparison_outputs():
    """Everything the compare, plot and setup rules produce for a finished run."""
    outputs = [
        "results/tables/comparison.tsv",
        "results/tables/comparison.md",
        "results/tables/r2_wide.tsv",
        "results/tables/r2_wide.parquet",
        "results/report/setup.html",
    ]
    outputs += [figure_file(n, e) for n in COMPARISON_FIGURES for e in ("png", "svg")]
    if config["compare"]["per_gene_test"]:
        outputs.append("results/tables/comparison_per_gene.tsv")
    return outputs


# ---------------------------------------------------------------- provenance, export, stage 2
PROVENANCE_STATIC = "results/provenance/static.json"
PREDICTIONS_DIR = "results/target/predictions"


def splits():
    return list(range(config["split"]["repeats"]))


def input_files():
    """Every input file the config names, with genotype indices and PLINK text files: hashed
    into provenance.json."""
    files = [*genotype_files(), config["expression"], *optional(config["covariates"])]
    files += optional(config["annotations"]["path"]) + optional(
        config["select"]["gene_list"]
    )
    files += optional(config["truth"]["genes"]) + optional(config["truth"]["variants"])
    files += target_genotype_files()
    files += existing_siblings(genotype_files() + target_genotype_files())
    files += optional(config["target"]["phenotype"]) + optional(
        config["target"]["covariates"]
    )
    indices = [
        f + ext for f in files for ext in (".tbi", ".csi") if Path(f + ext).exists()
    ]
    return sorted(set(files + indices))


def predictdb_files(model, split):
    """The model file, its covariances keyed by the weights' rsid and by their
    varID (one per S-PrediXcan --model_db_snp_key), and every gene of the fits,
    exported or not and why."""
    stem = f"results/export/predictdb/{model}.split{split}"
    return {
        "db": f"{stem}.db",
        "covariance": f"{stem}.covariances.txt.gz",
        "covariance_varid": f"{stem}.covariances.varID.txt.gz",
        "genes": f"{stem}.genes.tsv",
    }


def target_genotype_files():
    pattern = config["target"]["genotypes"]
    if not pattern:
        return []
    return sorted({genotype_path(pattern, c) for c in chromosomes()})


def prediction_files():
    """The target cohort's predicted expression: one BED per model in config and split."""
    return [
        f"{PREDICTIONS_DIR}/{m}.split{s}.bed.gz"
        for m in config["models"]
        for s in splits()
    ]


def export_outputs():
    outputs = [PROVENANCE_STATIC]
    if config["export"]["predictdb"]:
        for model in config["models"]:
            if model in EXPORTABLE_MODELS:
                outputs += [
                    f for s in splits() for f in predictdb_files(model, s).values()
                ]
    if config["target"]["genotypes"]:
        outputs.append(f"{PREDICTIONS_DIR}/coverage.tsv")
        if config["target"]["phenotype"]:
            outputs.append("results/target/twas.tsv")
    return outputs
