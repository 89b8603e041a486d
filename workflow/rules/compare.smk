rule aggregate:
    input:
        records=fit_files("json"),
    output:
        r2="results/tables/r2.tsv",
        times="results/tables/fit_times.tsv",
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    script:
        "../../scripts/aggregate.py"


rule evaluate_truth:
    input:
        selection="results/genes/selection.tsv",
        r2="results/tables/r2.tsv",
        truth_genes=optional(config["truth"]["genes"]),
        truth_variants=optional(config["truth"]["variants"]),
        importance=fit_files("importance.tsv"),
    output:
        genes="results/tables/truth_evaluation.tsv",
        importance="results/tables/importance_vs_truth.tsv",
    log:
        "results/logs/evaluate_truth.log",
    benchmark:
        "results/benchmarks/evaluate_truth.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(1000),
        runtime=attempt_scaled(5),
    script:
        "../../scripts/evaluate_truth.py"
