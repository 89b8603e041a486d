rule prepare_cohort:
    input:
        genotypes=genotype_files(),
        genotype_samples=genotype_sample_files(),
        expression=config["expression"],
        covariates=optional(config["covariates"]),
    output:
        samples="results/cohort/samples.tsv",
        expression="results/cohort/expression.parquet",
        covariates="results/cohort/covariates.parquet",
        summary="results/cohort/summary.json",
    log:
        "results/logs/prepare_cohort.log",
    benchmark:
        "results/benchmarks/prepare_cohort.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(30),
    params:
        min_samples=config["samples"]["min_count"],
    script:
        "../../scripts/prepare_cohort.py"


rule split_samples:
    input:
        samples="results/cohort/samples.tsv",
    output:
        split="results/split/split.tsv",
    log:
        "results/logs/split_samples.log",
    benchmark:
        "results/benchmarks/split_samples.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(1000),
        runtime=attempt_scaled(5),
    params:
        seed=config["seed"],
        test_fraction=config["split"]["test_fraction"],
        inner_folds=config["split"]["inner_folds"],
        repeats=config["split"]["repeats"],
    script:
        "../../scripts/split_samples.py"


rule extract_cis:
    input:
        genotypes=lambda wc: genotype_file(wc.chrom),
        genotype_index=genotype_index,
        genotype_siblings=genotype_siblings,
        samples="results/cohort/samples.tsv",
        expression="results/cohort/expression.parquet",
        annotations=optional(config["annotations"]["path"]),
    output:
        **store_files("{chrom}"),
        summary="results/cis/{chrom}/summary.json",
        annotation_match="results/cis/{chrom}/annotation_match.tsv",
    log:
        "results/logs/extract_cis/{chrom}.log",
    benchmark:
        "results/benchmarks/extract_cis/{chrom}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(60),
    params:
        window_bp=config["cis"]["window_bp"],
        dosage_field=config["genotypes"]["dosage_field"],
        maf_min=config["genotypes"]["maf_min"],
        missing_rate_max=config["genotypes"]["missing_rate_max"],
        hwe_p_min=config["genotypes"]["hwe_p_min"],
        annotation_fill=config["annotations"]["fill_value"],
    script:
        "../../scripts/extract_cis.py"
