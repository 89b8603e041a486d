"""The simulation's parameters: one frozen dataclass, its checks, the presets and ``--set``.

The target cohort's parameters (``n_target``, ``target_*``) are fields of the same dataclass, not
a second one: the target individuals come from the same coalescent simulation as the eQTL cohort
(``n_target`` changes the tree sequences and so every genotype), simulation.json records all
parameters in one flat ``parameters`` object, and ``--set`` takes both kinds of key alike.
"""

import math
from dataclasses import dataclass, fields, replace

from twasnet.errors import InputError

__all__ = [
    "NONLINEAR_KINDS",
    "PRESETS",
    "TARGET_PARAMETERS",
    "SimulationParameters",
    "parse_settings",
]

NONLINEAR_KINDS = ("dominance", "epistasis", "threshold")


@dataclass(frozen=True, kw_only=True)
class SimulationParameters:
    """Every parameter of :func:`twasnet.simulate.simulate_cohort`, checked on construction.

    Fields without a default are the ones every preset states; simulation.json records all of
    them in this order. Change one with ``dataclasses.replace(params, name=value)``.
    """

    #: root of every random stream (numpy SeedSequence; msprime's seeds derive from it)
    seed: int
    #: genotyped eQTL individuals (one more has expression but no genotypes); at least 20
    n_individuals: int
    #: genes, spread as evenly as possible over the chromosomes
    n_genes: int
    #: chromosomes, each an independent msprime tree sequence
    n_chromosomes: int
    #: length of every chromosome in bp
    chromosome_length_bp: int
    #: cis window half-width around each TSS (causal candidates, truth tables); < chromosome length
    window_bp: int
    #: s, the share of each heritable gene's h² that is nonlinear, in [0, 1]
    nonlinear_share: float
    #: enrichment of additive causal variants in annotated variants (0: TSS proximity only), >= 0
    annotation_informativeness: float
    #: fraction of genes whose cis-h² is exactly 0, in [0, 1]
    h2_null_fraction: float
    #: comma-separated subset of NONLINEAR_KINDS the nonlinear part may take
    nonlinear_kinds: str = ",".join(NONLINEAR_KINDS)
    #: enrichment of the dominance / epistasis carriers in enhancers and TF sites (0: off), >= 0
    nonlinear_annotation_informativeness: float = 0.0
    #: smallest h² of a heritable gene, in [0, h2_max]
    h2_min: float = 0.02
    #: largest h² of a heritable gene, in [h2_min, 1)
    h2_max: float = 0.5
    #: first shape of the Beta distribution of h² between h2_min and h2_max, > 0
    h2_beta_a: float = 1.2
    #: second shape of that Beta distribution, > 0
    h2_beta_b: float = 2.5
    #: fewest additive causal variants per heritable gene, >= 1
    causal_min: int = 1
    #: most additive causal variants per heritable gene, >= causal_min
    causal_max: int = 5
    #: smallest MAF of a causal (or nonlinear carrier) variant, in (0, 0.5]
    causal_min_maf: float = 0.05
    #: decay of the causal log-weight per window_bp of distance to the TSS, >= 0
    tss_proximity: float = 3.0
    #: typical share of expression variance explained by the covariates, in [0, 1)
    covariate_share: float = 0.25
    #: genotype principal components among the covariates, >= 0
    n_genotype_pcs: int = 5
    #: hidden (PEER-like) factors among the covariates, >= 0
    n_hidden_factors: int = 3
    #: effective population size of the coalescent (diploid individuals), > 0
    population_size: float = 10_000
    #: recombination rate per bp per generation, >= 0
    recombination_rate: float = 1e-8
    #: mutation rate per bp per generation (Jukes-Cantor), > 0
    mutation_rate: float = 1.25e-8
    #: indels injected per chromosome (Hardy-Weinberg genotypes at a random frequency), >= 0
    indels_per_chromosome: int = 12
    #: genotype calls set to ./. per chromosome, >= 0
    missing_calls_per_chromosome: int = 40
    #: fraction of genotyped individuals left without expression, in [0, 1]
    expression_dropout_fraction: float = 0.02
    #: individuals of the independent target cohort (0: none; `twasnet simulate --target N`), >= 0
    n_target: int = 0
    #: heritable genes whose genetic value drives the target phenotype, >= 0
    target_causal_genes: int = 3
    #: share of the target phenotype's variance explained by those genes, in (0, 0.9)
    target_phenotype_h2: float = 0.3
    #: threshold the target phenotype into cases and controls
    target_binary: bool = False
    #: fraction of cases when target_binary, in (0, 1)
    target_prevalence: float = 0.3

    def __post_init__(self) -> None:
        for field in fields(self):
            _check_type(field.name, getattr(self, field.name), field.type)
        _check_values(self)

    @property
    def nonlinear_kind_tuple(self) -> tuple[str, ...]:
        """``nonlinear_kinds`` split at commas, blanks dropped."""
        return _kinds(self.nonlinear_kinds)


# Parameters of the optional target cohort (`twasnet simulate --target N`), with their defaults.
TARGET_PARAMETERS = {
    f.name: f.default
    for f in fields(SimulationParameters)
    if f.name == "n_target" or f.name.startswith("target_")
}


_EXPECTED = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false"}


def _kinds(value: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in str(value).split(",") if k.strip())


def _fail(name: str, value, why: str) -> None:
    raise InputError(
        f"simulation parameter {name}={value!r} {why}; change it in the preset or on the "
        f"command line (twasnet simulate --set {name}=VALUE)."
    )


def _check_type(name: str, value, kind: type) -> None:
    """``value`` is a ``kind`` (an int is a float too; a bool is neither; floats are finite)."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value)
    else:
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        _fail(name, value, f"must be {_EXPECTED[kind]}")


def _check_values(p: SimulationParameters) -> None:
    """Ranges and kinds, in the order the parameters are documented; the first failure raises."""

    def bad(name: str, why: str) -> None:
        _fail(name, getattr(p, name), why)

    for name in ("n_individuals", "n_genes", "n_chromosomes", "chromosome_length_bp", "window_bp"):
        if getattr(p, name) < 1:
            bad(name, "must be a positive integer")
    if p.n_individuals < 20:
        bad("n_individuals", "must be at least 20")
    for name in ("nonlinear_share", "h2_null_fraction", "expression_dropout_fraction"):
        if not 0.0 <= getattr(p, name) <= 1.0:
            bad(name, "must lie in [0, 1]")
    if not 0.0 <= p.covariate_share < 1.0:
        bad("covariate_share", "must lie in [0, 1)")
    if not 0.0 <= p.h2_min <= p.h2_max < 1.0:
        bad("h2_max", f"must satisfy 0 <= h2_min ({p.h2_min}) <= h2_max < 1")
    for name in ("h2_beta_a", "h2_beta_b"):
        if getattr(p, name) <= 0:
            bad(name, "must be > 0")
    if not 1 <= p.causal_min <= p.causal_max:
        bad("causal_max", f"must satisfy 1 <= causal_min ({p.causal_min}) <= causal_max")
    if not 0.0 < p.causal_min_maf <= 0.5:
        bad("causal_min_maf", "must lie in (0, 0.5]")
    kinds = p.nonlinear_kind_tuple
    if not kinds or set(kinds) - set(NONLINEAR_KINDS):
        bad("nonlinear_kinds", f"must be a comma-separated subset of {','.join(NONLINEAR_KINDS)}")
    for name in (
        "annotation_informativeness",
        "nonlinear_annotation_informativeness",
        "tss_proximity",
        "recombination_rate",
    ):
        if getattr(p, name) < 0:
            bad(name, "must be >= 0")
    if p.window_bp >= p.chromosome_length_bp:
        bad("window_bp", f"must be smaller than chromosome_length_bp ({p.chromosome_length_bp})")
    _check_counts_and_target(p, bad)


def _check_counts_and_target(p: SimulationParameters, bad) -> None:
    for name in ("population_size", "mutation_rate"):
        if getattr(p, name) <= 0:
            bad(name, "must be > 0")
    for name in (
        "n_genotype_pcs",
        "n_hidden_factors",
        "indels_per_chromosome",
        "missing_calls_per_chromosome",
        "n_target",
        "target_causal_genes",
    ):
        if getattr(p, name) < 0:
            bad(name, "must be >= 0")
    if not 0.0 < p.target_phenotype_h2 < 0.9:
        bad("target_phenotype_h2", "must lie in (0, 0.9)")
    if not 0.0 < p.target_prevalence < 1.0:
        bad("target_prevalence", "must lie in (0, 1)")


# ----------------------------------------------------------------------------------------------
# Presets
# ----------------------------------------------------------------------------------------------

PRESETS: dict[str, SimulationParameters] = {
    "demo": SimulationParameters(
        seed=20240601,
        n_individuals=600,
        # 24 genes (~14 selected) keep `make demo` under 15 min on 2 cores with seven models: with
        # 50 (28 selected) and eight the training alone took ~31 core-minutes (2026-12-01); the
        # scenario presets below set their own count
        n_genes=24,
        n_chromosomes=2,
        chromosome_length_bp=10_000_000,
        window_bp=250_000,
        nonlinear_share=0.3,
        annotation_informativeness=1.0,
        h2_null_fraction=0.4,
    ),
}
# Capability scenarios (README, "Scenarios"): the demo's cohort with only the genetic architecture
# changed. "linear": additive effects, causal variants unrelated to annotations. "nonlinear": most
# of each gene's h² recessive (minor-allele homozygotes) or epistatic (pairwise product), and
# causal variants strongly enriched in annotated variants.
PRESETS["linear"] = replace(
    PRESETS["demo"],
    n_genes=80,
    h2_null_fraction=0.25,
    nonlinear_share=0.0,
    annotation_informativeness=0.0,
)
PRESETS["nonlinear"] = replace(
    PRESETS["linear"],
    nonlinear_share=0.7,
    nonlinear_kinds="dominance,epistasis",
    annotation_informativeness=2.0,
)
# "nonlinear_annotated": as "nonlinear", but annotations say nothing about the additive causal
# variants and instead mark (strongly) the variants that act recessively or interact.
PRESETS["nonlinear_annotated"] = replace(
    PRESETS["nonlinear"],
    annotation_informativeness=0.0,
    nonlinear_annotation_informativeness=3.0,
)
# Annotations can only improve a sparse model when the data alone cannot find the causal
# variants: many small additive effects per gene, strongly enriched in annotated variants.
PRESETS["annotated"] = replace(
    PRESETS["linear"],
    causal_min=10,
    causal_max=30,
    annotation_informativeness=3.0,
)
# The tests' cohort: the demo's model, scaled down, with stronger signal so few genes suffice.
PRESETS["tiny"] = replace(
    PRESETS["demo"],
    seed=7,
    n_individuals=120,
    n_genes=8,
    chromosome_length_bp=1_000_000,
    window_bp=100_000,
    h2_null_fraction=0.25,
    h2_min=0.2,
    h2_max=0.6,
    indels_per_chromosome=8,
    missing_calls_per_chromosome=20,
)


# ----------------------------------------------------------------------------------------------
# --set KEY=VALUE
# ----------------------------------------------------------------------------------------------

_TYPES = {f.name: f.type for f in fields(SimulationParameters)}
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def parse_settings(items: list[str]) -> dict[str, int | float | str | bool]:
    """``["KEY=VALUE", ...]`` to ``{KEY: value}``, each value parsed with its field's type (int,
    float, str; a bool from true/false, yes/no, 1/0). An unknown KEY raises InputError listing
    the valid ones; the values' ranges are checked when the parameters are built."""
    settings = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or key not in _TYPES:
            raise InputError(
                f"--set {item!r}: expected KEY=VALUE with KEY one of: {', '.join(_TYPES)}"
            )
        settings[key] = _parse(key, text.strip())
    return settings


def _parse(key: str, text: str) -> int | float | str | bool:
    kind = _TYPES[key]
    if kind is str:
        return text
    if kind is bool:
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
    else:
        try:
            return kind(text)
        except ValueError:
            pass
    raise InputError(f"--set {key}={text!r}: {key} takes {_EXPECTED[kind]}")
