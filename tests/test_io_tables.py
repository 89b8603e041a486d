"""Expression BED, covariate and annotation readers: what users get and the errors they see."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pysam
import pytest

from twasnet.errors import InputError
from twasnet.io.annotations import match_annotations, read_annotations
from twasnet.io.covariates import read_covariates
from twasnet.io.expression import read_expression_bed, read_expression_chromosomes

BED_HEADER = "#chr\tstart\tend\tgene_id\tS1\tS2\tS3\n"
BED_LINES = [
    "chr1\t999\t1000\tENSG01\t0.5\t-1.25\t2\n",
    "chr1\t4999\t5000\tENSG02\t1e-3\t0\t-0.5\n",
    "chr2\t0\t1\tENSG03\t1\t2\t3\n",
]


def _write(path, text: str, *, bgzip: bool = False) -> str:
    path = str(path)
    if bgzip:
        plain = path + ".txt"
        with open(plain, "w") as fh:
            fh.write(text)
        pysam.tabix_compress(plain, path, force=True)
    else:
        with open(path, "w") as fh:
            fh.write(text)
    return path


# ---------------------------------------------------------------------------------------------
# expression
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bgzip", [True, False])
def test_expression_bed_reads_gz_and_plain(tmp_path, bgzip):
    name = "expr.bed.gz" if bgzip else "expr.bed"
    path = _write(tmp_path / name, BED_HEADER + "".join(BED_LINES), bgzip=bgzip)
    expr = read_expression_bed(path)
    assert list(expr.genes.columns) == ["gene_id", "chrom", "tss"]
    assert list(expr.genes["gene_id"]) == ["ENSG01", "ENSG02", "ENSG03"]
    assert list(expr.genes["chrom"]) == ["1", "1", "2"]
    assert list(expr.genes["tss"]) == [1000, 5000, 1]  # BED start + 1
    assert expr.genes["tss"].dtype == np.int64
    assert list(expr.genes.index) == [0, 1, 2]
    assert list(expr.values.columns) == ["S1", "S2", "S3"]
    assert list(expr.values.index) == ["ENSG01", "ENSG02", "ENSG03"]
    assert expr.values.to_numpy().dtype == np.float64
    np.testing.assert_allclose(expr.values.loc["ENSG02"], [1e-3, 0, -0.5])
    assert read_expression_chromosomes(path) == ["1", "2"]


def test_expression_header_case_is_lenient(tmp_path):
    path = _write(tmp_path / "e.bed", "#Chr\tStart\tEND\tgene_id\tS1\nchr1\t9\t10\tG\t1\n")
    assert list(read_expression_bed(path).genes["tss"]) == [10]
    path = _write(tmp_path / "p.bed", "chr\tstart\tend\tphenotype_id\tS1\n1\t9\t10\tG\t1\n")
    assert list(read_expression_bed(path).genes["chrom"]) == ["1"]


@pytest.mark.parametrize(
    "header",
    [
        "#chr\tpos\tend\tgene_id\tS1\tS2\tS3\n",
        "#chrom\tstart\tend\tgene_id\tS1\tS2\tS3\n",
        "gene_id\tS1\tS2\tS3\n",
        "#chr,start,end,gene_id,S1,S2,S3\n",
    ],
)
def test_expression_malformed_header(tmp_path, header):
    path = _write(tmp_path / "bad.bed", header + "".join(BED_LINES))
    with pytest.raises(InputError, match=r"bad\.bed.*malformed header: expected .*#chr start end"):
        read_expression_bed(path)


def test_expression_nan_value_is_named(tmp_path):
    lines = [*BED_LINES]
    lines[1] = "chr1\t4999\t5000\tENSG02\t1\tNaN\t3\n"
    path = _write(tmp_path / "nan.bed.gz", BED_HEADER + "".join(lines), bgzip=True)
    with pytest.raises(InputError, match=r"nan\.bed\.gz.*line 3.*'ENSG02'.*'S2'"):
        read_expression_bed(path)


def test_expression_empty_value_is_named(tmp_path):
    lines = [*BED_LINES]
    lines[2] = "chr2\t0\t1\tENSG03\t1\t\t3\n"
    path = _write(tmp_path / "e.bed", BED_HEADER + "".join(lines))
    with pytest.raises(InputError, match=r"line 4.*'ENSG03'.*'S2' is empty"):
        read_expression_bed(path)


def test_expression_non_numeric_value_is_named(tmp_path):
    lines = [*BED_LINES]
    lines[0] = "chr1\t999\t1000\tENSG01\t0.5\t-1.25\tabc\n"
    path = _write(tmp_path / "t.bed", BED_HEADER + "".join(lines))
    with pytest.raises(InputError, match=r"line 2.*'ENSG01'.*'S3' is 'abc'"):
        read_expression_bed(path)


def test_expression_duplicate_samples_and_genes(tmp_path):
    path = _write(tmp_path / "d.bed", "#chr\tstart\tend\tgene_id\tS1\tS2\tS1\n" + BED_LINES[0])
    with pytest.raises(InputError, match=r"d\.bed.*duplicate sample ids.*S1"):
        read_expression_bed(path)
    path = _write(tmp_path / "g.bed", BED_HEADER + BED_LINES[0] + BED_LINES[0])
    with pytest.raises(InputError, match=r"'ENSG01' appears twice \(lines 2 and 3\)"):
        read_expression_bed(path)


def test_expression_bad_start_and_ragged_lines(tmp_path):
    path = _write(tmp_path / "s.bed", BED_HEADER + "chr1\t99.5\t100\tG1\t1\t2\t3\n")
    with pytest.raises(InputError, match=r"line 2 \(gene 'G1'\): start '99.5' is not"):
        read_expression_bed(path)
    path = _write(tmp_path / "r.bed", BED_HEADER + "chr1\t99\t100\tG1\t1\t2\t3\t4\n")
    with pytest.raises(InputError, match=r"r\.bed"):
        read_expression_bed(path)


# ---------------------------------------------------------------------------------------------
# covariates
# ---------------------------------------------------------------------------------------------


def test_covariate_layouts_give_the_same_frame(tmp_path):
    gtex = _write(
        tmp_path / "gtex.tsv",
        "ID\tS1\tS2\tS3\tS4\nPC1\t0.1\t-0.2\t0.3\t0.0\nsex\tM\tF\tF\tM\nage\t30\t40\t50\t60\n",
    )
    rows = _write(
        tmp_path / "rows.tsv",
        "sample\tPC1\tsex\tage\nS1\t0.1\tM\t30\nS2\t-0.2\tF\t40\nS3\t0.3\tF\t50\nS4\t0\tM\t60\n",
    )
    a = read_covariates(gtex)
    b = read_covariates(rows)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.index) == ["S1", "S2", "S3", "S4"]
    assert list(a.columns) == ["PC1", "sex_M", "age"]  # "F" is the dropped reference level
    np.testing.assert_array_equal(a["sex_M"], [1, 0, 0, 1])
    assert (a.dtypes == np.float64).all()
    # orientation from the sample overlap, even without the "ID" header
    gtex_no_id = _write(tmp_path / "g2.tsv", "name\tS1\tS2\nPC1\t1\t2\nPC2\t3\t4\n")
    c = read_covariates(gtex_no_id, samples=["S2", "S1", "S9"])
    assert list(c.index) == ["S1", "S2"] and list(c.columns) == ["PC1", "PC2"]
    np.testing.assert_array_equal(c.loc["S2"], [2, 4])


@pytest.mark.parametrize("missing", ["NA", "", "nan"])
def test_covariate_missing_value_is_named(tmp_path, missing):
    path = _write(tmp_path / "c.tsv", f"ID\tS1\tS2\nPC1\t1\t2\nage\t30\t{missing}\n")
    with pytest.raises(InputError, match=r"c\.tsv.*covariate 'age' is missing for sample 'S2'"):
        read_covariates(path)


def test_covariate_duplicates_and_mixed_text(tmp_path):
    path = _write(tmp_path / "d.tsv", "ID\tS1\tS1\nPC1\t1\t2\n")
    with pytest.raises(InputError, match=r"duplicate sample ids: S1"):
        read_covariates(path)
    path = _write(tmp_path / "d2.tsv", "ID\tS1\tS2\nPC1\t1\t2\nPC1\t3\t4\n")
    with pytest.raises(InputError, match=r"duplicate covariate names: PC1"):
        read_covariates(path)
    path = _write(tmp_path / "m.tsv", "ID\tS1\tS2\nage\t30\tforty\n")
    with pytest.raises(InputError, match=r"'age' mixes numbers and text.*'S2'"):
        read_covariates(path)


def test_constant_and_collinear_covariates_are_named():
    from twasnet.io.covariates import degenerate_covariates, degenerate_message

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(50, 3)), columns=["PC1", "PC2", "age"])
    frame["batch"] = 4.0
    frame["PC_sum"] = frame["PC1"] - 2 * frame["PC2"] + 1
    reasons = degenerate_covariates(frame)
    assert reasons == {
        "batch": "constant (4 for every sample)",
        "PC_sum": "collinear with 'PC1', 'PC2'",
    }
    message = degenerate_message("cov.tsv", reasons, 50)
    assert message.startswith("Covariate file 'cov.tsv': dropping 2 covariate(s)")
    assert degenerate_covariates(frame[["PC1", "PC2", "age"]]) == {}


def test_annotation_match_report_flags_a_one_bp_shift():
    from twasnet.io.annotations import low_match_warning, match_report

    variants = pd.DataFrame({"chrom": "1", "pos": [100, 200, 300, 400], "ref": "A", "alt": "G"})
    for shift, share in ((0, 1.0), (1, 0.0)):
        ann = variants.assign(pos=variants["pos"] + shift, cadd=1.0)
        row = match_report("1", variants, ann, match_annotations(variants, ann))
        assert row["match_rate"] == share and row["low_match"] == (share < 0.5)
    assert row["match_rate_if_annotations_minus_1"] == 1.0
    text = low_match_warning("ann.tsv", row)
    assert "matches only 0 of the 4 variants kept on chromosome 1 (0.0%, below 50%)" in text
    assert "shifted by -1 bp" in text and "genome build" in text


# ---------------------------------------------------------------------------------------------
# annotations
# ---------------------------------------------------------------------------------------------


ANN = pd.DataFrame(
    {
        "chrom": ["chr1", "chr1", "1", "2"],
        "pos": [100, 200, 300, 100],
        "ref": ["A", "C", "G", "T"],
        "alt": ["G", "T", "A", "C"],
        "cadd": [10.0, 20.0, 30.0, 40.0],
        "is_coding": [True, False, True, False],
    }
)


def _check_ann(ann: pd.DataFrame) -> None:
    assert list(ann.columns) == ["chrom", "pos", "ref", "alt", "cadd", "is_coding"]
    assert list(ann["chrom"]) == ["1", "1", "1", "2"]
    assert ann["pos"].dtype == np.int64
    assert ann["cadd"].dtype == np.float64 and ann["is_coding"].dtype == np.float64
    np.testing.assert_array_equal(ann["is_coding"], [1, 0, 1, 0])


def test_annotations_parquet_and_tsv(tmp_path):
    pq = tmp_path / "ann.parquet"
    ANN.to_parquet(pq)
    _check_ann(read_annotations(str(pq)))
    tsv = tmp_path / "ann.tsv.gz"
    with gzip.open(tsv, "wt") as fh:
        ANN.assign(is_coding=ANN["is_coding"].astype(int)).rename(
            columns={"chrom": "#CHROM"}
        ).to_csv(fh, sep="\t", index=False)
    _check_ann(read_annotations(str(tsv)))


def test_annotations_variant_id_form(tmp_path):
    df = pd.DataFrame({"variant_id": ["chr1_100_A_G_b38", "chr2_5_T_C_b38"], "score": [0.5, 1.5]})
    path = tmp_path / "vid.tsv"
    df.to_csv(path, sep="\t", index=False)
    ann = read_annotations(str(path))
    assert list(ann.columns) == ["chrom", "pos", "ref", "alt", "score"]
    assert ann.iloc[1].to_dict() == {"chrom": "2", "pos": 5, "ref": "T", "alt": "C", "score": 1.5}


def test_annotations_missing_keys_and_bad_columns(tmp_path):
    path = tmp_path / "nokey.tsv"
    pd.DataFrame({"chr": ["1"], "position": [1], "score": [1.0]}).to_csv(
        path, sep="\t", index=False
    )
    with pytest.raises(InputError, match=r"nokey\.tsv' lacks key columns.*found chr, position"):
        read_annotations(str(path))
    path = tmp_path / "text.tsv"
    ANN.assign(gene=["A", "B", "C", "D"]).to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"column 'gene' is not numeric"):
        read_annotations(str(path))
    path = tmp_path / "keysonly.tsv"
    ANN[["chrom", "pos", "ref", "alt"]].to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"no annotation columns"):
        read_annotations(str(path))


def test_match_annotations_swapped_fill_and_indicator(tmp_path):
    pq = tmp_path / "ann.parquet"
    ANN.to_parquet(pq)
    ann = read_annotations(str(pq))
    variants = pd.DataFrame(
        {
            "chrom": ["1", "1", "1", "2", "3"],
            "pos": [200, 100, 300, 100, 100],
            "ref": ["C", "G", "G", "T", "A"],  # pos 100 chr1: alleles swapped
            "alt": ["T", "A", "C", "C", "G"],  # pos 300: different alt -> no match
        },
        index=[10, 11, 12, 13, 14],
    )
    out = match_annotations(variants, ann, fill_value=-1.0)
    assert list(out.index) == [10, 11, 12, 13, 14]
    assert list(out.columns) == ["cadd", "is_coding", "annotation_missing"]
    np.testing.assert_array_equal(out["cadd"], [20, 10, -1, 40, -1])
    np.testing.assert_array_equal(out["is_coding"], [0, 1, -1, 0, -1])
    np.testing.assert_array_equal(out["annotation_missing"], [0, 0, 1, 0, 1])
