checkpoint select_genes:
    input:
        stores=all_store_files,
        samples="results/cohort/samples.tsv",
        expression="results/cohort/expression.parquet",
        covariates="results/cohort/covariates.parquet",
        split="results/split/split.tsv",
        gene_list=optional(config["select"]["gene_list"]),
    output:
        table="results/genes/selection.tsv",
    log:
        "results/logs/select_genes.log",
    benchmark:
        "results/benchmarks/select_genes.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(60),
    params:
        mode=config["select"]["mode"],
        p_max=config["select"]["p_max"],
    script:
        "../../scripts/select_genes.py"
