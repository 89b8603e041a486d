rule fit_prior:
    input:
        **COHORT_TABLES,
        stores=all_store_files,
        selection="results/genes/selection.tsv",
    output:
        prior="results/priors/{model}.split{split}.json",
    log:
        "results/logs/priors/{model}.split{split}.log",
    benchmark:
        "results/benchmarks/priors/{model}.split{split}.tsv"
    wildcard_constraints:
        model="|".join(PRIOR_FILES),
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(60),
    params:
        model=lambda wc: wc.model,
        model_params=lambda wc: config[wc.model],
        window_bp=config["cis"]["window_bp"],
        seed=config["seed"],
    script:
        "../../scripts/fit_prior.py"


rule train_linear:
    input:
        unpack(gene_inputs),
        **COHORT_TABLES,
        selection="results/genes/selection.tsv",
    output:
        genes=f"{CHUNK_STEM}.tsv",
    log:
        chunk_log("logs"),
    benchmark:
        chunk_log("benchmarks")
    wildcard_constraints:
        model="|".join(LINEAR_MODELS),
        chrom="[^/]+",
        chunk=r"\d+",
    # One chunk is one cluster submission; --group-components fit_linear=N would pack N.
    group:
        "fit_linear"
    conda:
        "../../envs/models.yaml"
    threads: 1
    # genes run one after another: memory is one gene's, the runtime adds up over the chunk
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=chunk_scaled(10, 2),
    params:
        genes=chunk_genes,
        outputs=chunk_fit_outputs("json"),
        model_params=lambda wc: config[wc.model],
        window_bp=config["cis"]["window_bp"],
        seed=config["seed"],
    script:
        "../../scripts/train.py"


rule train_deep:
    input:
        unpack(gene_inputs),
        **COHORT_TABLES,
        selection="results/genes/selection.tsv",
    output:
        genes=f"{CHUNK_STEM}.tsv",
    log:
        chunk_log("logs"),
    benchmark:
        chunk_log("benchmarks")
    wildcard_constraints:
        model="|".join(DEEP_MODELS),
        chrom="[^/]+",
        chunk=r"\d+",
    # One chunk is one cluster submission; --group-components fit_deep=N would pack N.
    group:
        "fit_deep"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=chunk_scaled(10, 10),
        gpu=1,
    params:
        genes=chunk_genes,
        outputs=chunk_fit_outputs("pt"),
        model_params=lambda wc: config[wc.model],
        window_bp=config["cis"]["window_bp"],
        seed=config["seed"],
    script:
        "../../scripts/train.py"
