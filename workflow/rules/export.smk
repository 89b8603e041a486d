# Provenance, PredictDB export, and stage 2 into a target cohort (predict, associate).

import sys as _sys

from twasnet.provenance import now  # noqa: E402

RUN = {"started": None}


onstart:
    RUN["started"] = now()


onsuccess:
    if Path(PROVENANCE_STATIC).exists():
        # imported here: twasnet.export pulls in scipy.stats, which every parse of the
        # workflow (also each cluster job's) would otherwise pay for
        from twasnet.export.stages import write_run_provenance

        write_run_provenance(
            static_path=PROVENANCE_STATIC,
            started=RUN["started"],
            command=_sys.argv,
            out_path="results/provenance.json",
        )


rule provenance:
    input:
        input_files(),
    output:
        static=PROVENANCE_STATIC,
    log:
        "results/logs/provenance.log",
    benchmark:
        "results/benchmarks/provenance.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(1000),
        runtime=attempt_scaled(30),
    params:
        config=config,
        workflow_dir=workflow.basedir,
    script:
        "../../scripts/provenance.py"


rule export_predictdb:
    input:
        chunks=model_split_chunk_files,
        selection="results/genes/selection.tsv",
        stores=all_store_files,
        samples=COHORT_TABLES["samples"],
        split=COHORT_TABLES["split"],
    output:
        **predictdb_files("{model}", "{split}"),
    log:
        "results/logs/export/{model}.split{split}.log",
    benchmark:
        "results/benchmarks/export/{model}.split{split}.tsv"
    wildcard_constraints:
        model="|".join(EXPORTABLE_MODELS),
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(30),
    params:
        build=config["export"]["build"],
        seed=config["seed"],
        performance_filter=config["export"]["filter"],
    script:
        "../../scripts/export_predictdb.py"


rule predict_target:
    input:
        chunks=chunk_files,
        genotypes=target_genotype_files(),
        siblings=existing_siblings(target_genotype_files()),
    output:
        coverage=f"{PREDICTIONS_DIR}/coverage.tsv",
        beds=prediction_files(),
    log:
        "results/logs/predict_target.log",
    benchmark:
        "results/benchmarks/predict_target.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(60),
    params:
        genotypes=lambda wc: config["target"]["genotypes"],
        dosage_field=config["genotypes"]["dosage_field"],
        min_fraction=config["target"]["min_variant_fraction"],
        fit_keys=[(m, s) for m in config["models"] for s in splits()],
    script:
        "../../scripts/predict_target.py"


rule associate_target:
    input:
        predictions=prediction_files(),
        phenotype=optional(config["target"]["phenotype"]),
        covariates=optional(config["target"]["covariates"]),
    output:
        table="results/target/twas.tsv",
    log:
        "results/logs/associate_target.log",
    benchmark:
        "results/benchmarks/associate_target.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(30),
    params:
        column=config["target"]["phenotype_column"],
        binary=config["target"]["binary"],
    script:
        "../../scripts/associate_target.py"
