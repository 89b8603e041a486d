rule aggregate:
    input:
        records=fit_records,
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
        truth=optional(config["truth"]),
    output:
        table="results/tables/truth_evaluation.tsv",
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
