"""The ``twasnet`` command line."""

from __future__ import annotations

import argparse
import sys


def _simulate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from twasnet.errors import InputError
    from twasnet.simulate import PRESETS, simulate_cohort
    from twasnet.simulate.params import parse_settings

    try:
        changes = parse_settings(args.set or [])
        if args.seed is not None:
            changes["seed"] = args.seed
        if args.target:
            changes["n_target"] = args.target
        params = replace(PRESETS[args.preset], **changes)
    except InputError as error:
        print(f"twasnet simulate: {error}", file=sys.stderr)
        return 2
    paths = simulate_cohort(params, out_dir=args.out)
    for name, path in paths.items():
        print(f"{name}\t{path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twasnet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_simulate_command(commands)
    _add_stage2_commands(commands)
    args = parser.parse_args(argv)
    if args.command == "simulate":
        return _simulate(args)
    return args.run(args)


def _add_simulate_command(commands) -> None:
    # the presets import without msprime, scipy or pysam (twasnet.simulate loads them on use)
    from twasnet.simulate import PRESETS

    simulate = commands.add_parser(
        "simulate", help="write a simulated eQTL cohort in twasnet's input formats"
    )
    simulate.add_argument("--out", required=True, help="output directory")
    simulate.add_argument(
        "--preset",
        default="demo",
        choices=sorted(PRESETS),
        help="the parameters to start from (twasnet.simulate.PRESETS; default demo)",
    )
    simulate.add_argument("--seed", type=int, default=None, help="overrides the preset's seed")
    simulate.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one field of twasnet.simulate.SimulationParameters, e.g. --set "
        "nonlinear_share=0.5 (repeatable; an unknown KEY lists the valid ones)",
    )
    simulate.add_argument(
        "--target",
        type=int,
        default=0,
        metavar="N",
        help="also write an independent target cohort of N individuals with a phenotype driven "
        "by some genes' expression, under <out>/target (see --set target_*)",
    )


def _add_stage2_commands(commands) -> None:
    predict = commands.add_parser(
        "predict", help="predict every trained gene and model from a new cohort's genotypes"
    )
    predict.add_argument(
        "--genotypes",
        required=True,
        help="VCF/BCF, PLINK 1 .bed or PLINK 2 .pgen, or a '{chrom}' pattern",
    )
    predict.add_argument("--results", default="results", help="the workflow's results directory")
    predict.add_argument("--out", required=True, help="output directory")
    predict.add_argument("--models", nargs="+", default=None, help="only these models")
    predict.add_argument("--split", type=int, default=None, help="only this split's models")
    predict.add_argument("--samples", default=None, help="file of sample ids (one per line)")
    predict.add_argument("--dosage-field", default=None, help="FORMAT dosage field, e.g. DS")
    predict.add_argument(
        "--min-fraction",
        type=float,
        default=0.8,
        help="warn when a gene model finds less than this fraction of its variants (0.8)",
    )
    predict.set_defaults(run=_predict)
    associate = commands.add_parser(
        "associate", help="regress a phenotype on predicted expression (individual-level TWAS)"
    )
    associate.add_argument("--predictions", nargs="+", required=True, help="BEDs of predict")
    associate.add_argument("--phenotype", required=True, help="TSV: sample column + phenotype")
    associate.add_argument("--column", default="phenotype", help="phenotype column (phenotype)")
    associate.add_argument("--covariates", default=None, help="covariates (GTEx or samples x)")
    associate.add_argument(
        "--binary", choices=["auto", "yes", "no"], default="auto", help="logistic regression"
    )
    associate.add_argument("--out", required=True, help="output TSV")
    associate.set_defaults(run=_associate)
    rerun = commands.add_parser(
        "compare-runs", help="compare the tables of a rerun with a previous run's (byte for byte)"
    )
    rerun.add_argument("previous", help="previous run's tables directory, e.g. results/tables")
    rerun.add_argument("new", help="the rerun's tables directory")
    rerun.add_argument("--tables", nargs="+", default=None, help="only these table names")
    rerun.set_defaults(run=_compare_runs)


def _predict(args: argparse.Namespace) -> int:
    from twasnet.errors import InputError
    from twasnet.export.artefact import find_artefacts
    from twasnet.export.stages import predict_cohort

    samples = None
    if args.samples:
        with open(args.samples) as handle:
            samples = [line.strip() for line in handle if line.strip()]
    paths = find_artefacts(args.results, models=args.models, split=args.split)
    try:
        written = predict_cohort(
            artefact_paths=[str(p) for p in paths],
            genotypes=args.genotypes,
            samples=samples,
            dosage_field=args.dosage_field,
            min_fraction=args.min_fraction,
            out_dir=args.out,
        )
    except InputError as error:
        print(f"twasnet predict: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def _associate(args: argparse.Namespace) -> int:
    from twasnet.errors import InputError
    from twasnet.export.stages import associate_cohort

    binary = {"auto": "auto", "yes": True, "no": False}[args.binary]
    try:
        table = associate_cohort(
            prediction_paths=args.predictions,
            phenotype_path=args.phenotype,
            phenotype_column=args.column,
            covariates_path=args.covariates,
            binary=binary,
            out_path=args.out,
        )
    except InputError as error:
        print(f"twasnet associate: {error}", file=sys.stderr)
        return 1
    hits = table[table["fdr"] < 0.05].groupby("model").size()
    for model in sorted(table["model"].unique()):
        print(f"{model}\t{int(hits.get(model, 0))} gene(s) at FDR 5%")
    return 0


def _compare_runs(args: argparse.Namespace) -> int:
    from twasnet.provenance import compare_runs

    report = compare_runs(args.previous, args.new, tables=args.tables)
    print(report.to_string(index=False) if len(report) else "no tables to compare")
    return 0 if len(report) and (report["status"] == "identical").all() else 1


if __name__ == "__main__":
    sys.exit(main())
