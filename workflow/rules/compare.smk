rule aggregate:
    input:
        chunks=chunk_files,
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
        chunks=chunk_files,
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


rule compare:
    input:
        r2="results/tables/r2.tsv",
    output:
        comparison=report(
            "results/tables/comparison.tsv",
            caption="../report/comparison_tsv.rst",
            category="Comparison",
            labels={"item": "comparison.tsv (all columns)"},
        ),
        markdown="results/tables/comparison.md",
        html=report(
            "results/report/comparison.html",
            caption="../report/comparison.rst",
            category="Comparison",
            labels={"item": "paired tests across genes"},
        ),
        genes="results/tables/comparison_genes.tsv",
        dropped="results/tables/comparison_dropped.tsv",
        wide_tsv=report(
            "results/tables/r2_wide.tsv",
            caption="../report/r2_wide.rst",
            category="Comparison",
            labels={"item": "r2_wide.tsv (gene x model)"},
        ),
        wide_parquet="results/tables/r2_wide.parquet",
    log:
        "results/logs/compare.log",
    benchmark:
        "results/benchmarks/compare.tsv"
    conda:
        "../../envs/compare.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    params:
        pairs=config["compare"]["pairs"],
        models=config["models"],
        metric=config["compare"]["metric"],
        alternative=config["compare"]["alternative"],
        alpha=config["compare"]["alpha"],
        n_bootstrap=config["compare"]["n_bootstrap"],
        seed=config["seed"],
    script:
        "../../scripts/compare.py"


rule compare_per_gene:
    input:
        chunks=chunk_files,
    output:
        table="results/tables/comparison_per_gene.tsv",
    log:
        "results/logs/compare_per_gene.log",
    benchmark:
        "results/benchmarks/compare_per_gene.tsv"
    conda:
        "../../envs/compare.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(30),
    params:
        pairs=config["compare"]["pairs"],
        models=config["models"],
        alpha=config["compare"]["alpha"],
        n_bootstrap=config["compare"]["n_bootstrap"],
        seed=config["seed"],
    script:
        "../../scripts/compare_per_gene.py"


rule plot_comparison:
    input:
        genes="results/tables/comparison_genes.tsv",
        wide="results/tables/r2_wide.tsv",
        selection="results/genes/selection.tsv",
        chunks=chunk_files,
        truth_genes=optional(config["truth"]["genes"]),
        truth_variants=optional(config["truth"]["variants"]),
    output:
        pairs_png=report(
            figure_file("pairs", "png"),
            caption="../report/fig_pairs.rst",
            category="Figures",
            labels={"figure": "R² of A vs B per gene"},
        ),
        pairs_svg=figure_file("pairs", "svg"),
        delta_png=report(
            figure_file("delta", "png"),
            caption="../report/fig_delta.rst",
            category="Figures",
            labels={"figure": "ΔR² per pair"},
        ),
        delta_svg=figure_file("delta", "svg"),
        h2_png=report(
            figure_file("h2", "png"),
            caption="../report/fig_h2.rst",
            category="Figures",
            labels={"figure": "R² vs h²"},
        ),
        h2_svg=figure_file("h2", "svg"),
        importance_png=report(
            figure_file("importance", "png"),
            caption="../report/fig_importance.rst",
            category="Figures",
            labels={"figure": "importance along the window"},
        ),
        importance_svg=figure_file("importance", "svg"),
    log:
        "results/logs/plot_comparison.log",
    benchmark:
        "results/benchmarks/plot_comparison.tsv"
    conda:
        "../../envs/compare.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    params:
        pairs=config["compare"]["pairs"],
        models=config["models"],
        top_genes=config["compare"]["top_genes"],
        seed=config["seed"],
    script:
        "../../scripts/plot_comparison.py"


rule summarise_setup:
    input:
        cohort="results/cohort/summary.json",
        split=COHORT_TABLES["split"],
        selection="results/genes/selection.tsv",
        r2="results/tables/r2.tsv",
        provenance=PROVENANCE_STATIC,
    output:
        html=report(
            "results/report/setup.html",
            caption="../report/setup.rst",
            category="Setup",
            labels={"item": "cohort, genes, split, seeds, models"},
        ),
    log:
        "results/logs/summarise_setup.log",
    benchmark:
        "results/benchmarks/summarise_setup.tsv"
    conda:
        "../../envs/compare.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(1000),
        runtime=attempt_scaled(5),
    params:
        config=config,
    script:
        "../../scripts/summarise_setup.py"
