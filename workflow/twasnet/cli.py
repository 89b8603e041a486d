"""The ``twasnet`` command line."""

from __future__ import annotations

import argparse
import json
import sys

# twasnet.simulate.PRESETS' keys (kept here so the parser needs no msprime import; a test checks).
PRESET_NAMES = ("demo", "linear", "nonlinear", "tiny")


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _simulate(args: argparse.Namespace) -> int:
    from twasnet.simulate import PRESETS, simulate_cohort

    params = dict(PRESETS[args.preset])
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or key not in params:
            known = ", ".join(sorted(params))
            print(f"twasnet simulate: --set {item!r}: expected KEY=VALUE with KEY in {known}")
            return 2
        params[key] = _value(value)
    if args.seed is not None:
        params["seed"] = args.seed
    paths = simulate_cohort(out_dir=args.out, **params)
    for name, path in paths.items():
        print(f"{name}\t{path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twasnet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    simulate = commands.add_parser(
        "simulate", help="write a simulated eQTL cohort in twasnet's input formats"
    )
    simulate.add_argument("--out", required=True, help="output directory")
    simulate.add_argument("--preset", default="demo", choices=sorted(PRESET_NAMES))
    simulate.add_argument("--seed", type=int, default=None, help="overrides the preset's seed")
    simulate.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one simulation parameter, e.g. --set nonlinear_share=0.5 (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.command == "simulate":
        return _simulate(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
