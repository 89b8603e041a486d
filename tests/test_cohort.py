"""Sample intersection across genotype, expression and covariate files."""

from __future__ import annotations

import pytest

from twasnet.cohort import intersect_samples
from twasnet.errors import InputError


def test_intersection_order_counts_and_leftovers():
    res = intersect_samples(
        genotype=["G4", "G1", "G2", "G3", "G5"],
        expression=["G1", "G2", "G3", "G4", "E9"],
        covariates=["G3", "G2", "G4", "G1"],
        min_samples=2,
    )
    assert res.samples == ["G4", "G1", "G2", "G3"]  # genotype-file order
    assert res.counts == {"genotype": 5, "expression": 5, "covariates": 4, "intersection": 4}
    assert res.only_in == {"genotype": ["G5"], "expression": ["E9"], "covariates": []}


def test_intersection_without_covariates():
    res = intersect_samples(
        genotype=["a", "b", "c"], expression=["c", "a"], covariates=None, min_samples=1
    )
    assert res.samples == ["a", "c"]
    assert res.counts == {"genotype": 3, "expression": 2, "intersection": 2}
    assert "covariates" not in res.only_in


def test_too_few_samples_reports_counts():
    with pytest.raises(InputError) as err:
        intersect_samples(
            genotype=["A", "B", "C"], expression=["B", "C", "D"], covariates=["B"], min_samples=2
        )
    msg = str(err.value)
    assert "Only 1 samples" in msg
    assert "genotype 3, expression 3, covariates 1" in msg
    assert "at least 2" in msg


def test_too_few_samples_hints_at_look_alike_ids():
    genotype = [f"GTEX-{i:04d}" for i in range(5)]
    expression = [f"GTEX-{i:04d}-0226-SM-X{i}" for i in range(5)]  # aliquot ids
    covariates = [f"gtex_{i:04d}" for i in range(5)]  # case and separator differ
    with pytest.raises(InputError) as err:
        intersect_samples(
            genotype=genotype, expression=expression, covariates=covariates, min_samples=3
        )
    msg = str(err.value)
    assert "Only 0 samples" in msg
    assert "expression ids start with a genotype id" in msg
    assert "'GTEX-0000' vs 'GTEX-0000-0226-SM-X0'" in msg
    assert "match covariates ids only when case" in msg


def test_lost_samples_message_names_the_file_lacking_them():
    from twasnet.cohort import lost_samples_message

    ids = [f"S{i}" for i in range(10)]
    found = intersect_samples(genotype=ids, expression=ids, covariates=ids[3:], min_samples=1)
    files = {"genotype": "g.vcf.gz", "expression": "e.bed.gz", "covariates": "c.tsv"}
    message = lost_samples_message(found, files)
    assert "so the cohort has 7" in message
    assert (
        "3 samples are missing from the covariates file 'c.tsv' (e.g. 'S0', 'S1', 'S2')" in message
    )
    assert "genotype file" not in message
    everyone = intersect_samples(genotype=ids, expression=ids, covariates=ids, min_samples=1)
    assert lost_samples_message(everyone, files) is None
