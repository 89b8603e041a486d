rule train_enet:
    input:
        unpack(gene_store),
        samples="results/cohort/samples.tsv",
        expression="results/cohort/expression.parquet",
        covariates="results/cohort/covariates.parquet",
        split="results/split/split.tsv",
        selection="results/genes/selection.tsv",
    output:
        record="results/fits/enet/{gene}.split{split}.json",
        predictions="results/fits/enet/{gene}.split{split}.predictions.tsv",
        importance="results/fits/enet/{gene}.split{split}.importance.tsv",
    log:
        "results/logs/train/enet/{gene}.split{split}.log",
    benchmark:
        "results/benchmarks/train/enet/{gene}.split{split}.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(20),
    params:
        model="enet",
        model_params=config["enet"],
        seed=config["seed"],
    script:
        "../../scripts/train.py"
