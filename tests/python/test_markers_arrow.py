"""The compact reader of statistics tables reads every file as pandas reads it as text.

Each expectation is made independently: ``pd.read_csv(dtype=str, skipinitialspace=True)``
gives the cells, the R row-name column is dropped, statistics become numbers (NA spellings
are missing; p-values in double precision, other statistics in single) and names stay as
written. The reader must give those values whichever way it reads the file, and give them
compactly (floats and categories) for the tables it is meant for.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cassia.errors import InputError
from cassia.markers import load_markers
from cassia.markers.names import NA_TEXT
from cassia.markers.read import read_source

HEADER = ["", "p_val", "avg_log2FC", "pct.1", "pct.2", "p_val_adj", "cluster", "gene"]
EXACT = {"p_val", "p_val_adj"}
STATS = {"p_val", "avg_log2FC", "pct.1", "pct.2", "p_val_adj"}
NA_SPELLINGS = sorted(NA_TEXT | {v.upper() for v in NA_TEXT} | {v.capitalize() for v in NA_TEXT})


def expected(path: Path, sep: str = ",") -> dict[str, list]:
    cells = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
                        skipinitialspace=True)
    cells.columns = [str(c).strip() for c in cells.columns]
    out = {}
    for name in cells.columns[1:] if cells.columns[0].startswith("Unnamed") else cells.columns:
        values = cells[name].tolist()
        if name in STATS:
            numbers = [np.nan if v.strip().lower() in NA_TEXT else float(v) for v in values]
            with np.errstate(over="ignore"):  # beyond single precision: inf
                values = numbers if name in EXACT else [float(np.float32(v)) for v in numbers]
        out[name] = plain(values)
    return out


def plain(values: list) -> list:
    return [None if isinstance(v, float) and np.isnan(v) else v for v in values]


def read_values(path: Path) -> tuple[dict[str, list], pd.DataFrame]:
    """The frame the reader gives, as plain values (numbers as floats, names as strings); the
    general reader keeps the row names (as "Unnamed: 0") and every cell as text."""
    frame = read_source(path).frame
    values = {}
    for name in frame.columns.drop("Unnamed: 0", errors="ignore"):
        column = frame[name].tolist()
        if name in STATS:
            column = [np.nan if isinstance(v, str) and v.strip().lower() in NA_TEXT else float(v) for v in column]
            column = column if name in EXACT else [float(np.float32(v)) for v in column]
        values[name] = plain(column)
    return values, frame


def assert_reads_as_pandas(path: Path, sep: str = ",", *, compact: bool = True) -> pd.DataFrame:
    values, frame = read_values(path)
    want = expected(path, sep)
    assert list(values) == list(want)
    for name, column in want.items():
        assert values[name] == column, name
    if compact:  # the atlas-sized representation, categories in the order first met
        for name in frame.columns:
            if name in STATS:
                assert frame[name].dtype == (np.float64 if name in EXACT else np.float32), name
            else:
                assert isinstance(frame[name].dtype, pd.CategoricalDtype), name
                assert list(frame[name].cat.categories) == list(dict.fromkeys(frame[name].astype(object))), name
    return frame


def row(i: int, *, p="1e-10", fc=None, cluster=None, gene=None) -> list[str]:
    fc = str(2 - i / 1000) if fc is None else fc
    cluster = f"c{i % 3}" if cluster is None else cluster
    return [f'"G{i}.{i % 3}"', p, fc, "0.5", "0.25", p, f'"{cluster}"', f'"{f"G{i}" if gene is None else gene}"']


def write(path: Path, rows: list[list[str]], sep: str = ",", header: list[str] = HEADER, end: str = "\n") -> Path:
    lines = [sep.join(f'"{h}"' for h in header)] + [sep.join(r) for r in rows]
    path.write_bytes((end.join(lines) + end).encode())
    return path


def test_every_na_spelling_is_a_missing_statistic(tmp_path):
    spellings = NA_SPELLINGS + ['"NA"', '""']
    rows = [row(i, p=na, fc=na) for i, na in enumerate(spellings)] + [row(99, p="0.30000000000000004")]
    frame = assert_reads_as_pandas(write(tmp_path / "na.csv", rows))
    assert frame["p_val"].isna().sum() == len(spellings) and frame["p_val"].iloc[-1] == 0.30000000000000004


def test_numbers_keep_their_precision(tmp_path):
    values = ["1e-300", "4.9406564584124654e-324", "2.2250738585072011e-308", "1.7976931348623157e308", "-0",
              "0.1", "+5", ".5", "5.", "1E5", "Inf", "-inf", "123456789012345678901234567890"]
    frame = assert_reads_as_pandas(write(tmp_path / "p.csv", [row(i, p=v, fc=v) for i, v in enumerate(values)]))
    assert frame["p_val_adj"].iloc[0] == 1e-300 and frame["p_val"].iloc[1] == 5e-324


def test_quoted_line_breaks_and_blank_lines(tmp_path):
    rows = [row(0), row(1, cluster="c\nd"), row(2, gene="G\r\n2"), [], [], row(3)]
    rows[3:3] = [['"r\n1"'] + row(4)[1:]]
    frame = assert_reads_as_pandas(write(tmp_path / "nl.csv", rows))
    assert frame["cluster"].tolist()[1] == "c\nd" and len(frame) == 5


@pytest.mark.parametrize("sep", [",", "\t", ";", "|"])
def test_delimiters_bom_and_crlf(tmp_path, sep):
    path = write(tmp_path / "m.txt", [row(i) for i in range(5)], sep=sep, end="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    frame = assert_reads_as_pandas(path, sep)
    assert frame.columns[0] == "p_val"  # the BOM is not part of a name, the row names are dropped


def test_gzip_of_several_members(tmp_path):
    plain = write(tmp_path / "m.csv", [row(i) for i in range(6)])
    head, *rest = plain.read_bytes().splitlines(keepends=True)
    path = tmp_path / "m.csv.GZ"
    path.write_bytes(gzip.compress(head + b"".join(rest[:3])) + gzip.compress(b"".join(rest[3:])))
    values, frame = read_values(path)
    assert values == expected(plain) and len(frame) == 6 and frame["pct.2"].dtype == np.float32


def test_spaces_after_delimiters_are_dropped_and_a_quote_after_them_opens_a_field(tmp_path):
    rows = [[f'"G{i}"', " 1e-5", "  2.5", "0.5 ", " NA", "1e-3", ' "c, d"' if i % 2 else " c", f' "G{i}"']
            for i in range(4)]
    assert_reads_as_pandas(write(tmp_path / "spaces.csv", rows), compact=False)
    rows = [[f'"G{i}"', "1e-5", " 2.5", "0.5", "0.1", " 1e-3", "c", f"G{i}"] for i in range(4)]
    assert_reads_as_pandas(write(tmp_path / "numbers.csv", rows))  # spaces before numbers only
    rows = [row(0)[:6] + [" c", ' "G0"'], row(1)[:6] + ['"c"', " G1"]]  # names after spaces, numbers plain
    assert_reads_as_pandas(write(tmp_path / "names.csv", rows), compact=False)
    # a quoted row name after a space holds the delimiter: the columns after it stay in place
    path = write(tmp_path / "rowname.csv", [[' "r,1"', "CD3D", "0"], ['"r2"', "CD4", "0", "0.5"]],
                 header=["", "gene", "cluster", "p_val"])
    assert assert_reads_as_pandas(path, compact=False)["gene"].tolist() == ["CD3D", "CD4"]
    # spaces inside quotes are kept
    rows = [row(0, cluster="  c"), row(1, gene=" G1")]
    assert_reads_as_pandas(write(tmp_path / "quoted.csv", rows), compact=False)


def test_text_is_kept_as_written(tmp_path):
    rows = [row(0, cluster="007"), row(1, cluster="7_0"), row(2, cluster='a ""b""'), row(3, gene="NA"),
            row(4, gene=""), row(5, cluster="ü-c")]
    rows.append(row(6)[:6] + ["c", 'G"6'])  # a quote inside an unquoted field is a character
    frame = assert_reads_as_pandas(write(tmp_path / "text.csv", rows))
    assert frame["cluster"].tolist()[:3] == ["007", "7_0", 'a "b"'] and frame["gene"].tolist()[3:5] == ["NA", ""]


def test_pieces_of_a_large_table_join_exactly(tmp_path):
    # read in more than one piece: clusters interleaved so names are met across pieces, row
    # names holding line breaks, 3 MB of blank lines (pieces without rows)
    rows = [row(i, p=f"{(i % 97 + 1) * 1.1e-7}", cluster=f"k{(i * 7919) % 61}", gene=f"G{(i * 31) % 4000}")
            for i in range(24_000)]
    for i in range(1, len(rows)):  # (not the first: a row broken there hides how many fields rows have)
        rows[i][0] = f'"\nG{i}"'
    rows[12_000:12_000] = [[]] * 3_000_000
    path = write(tmp_path / "big.csv", rows)
    frame = assert_reads_as_pandas(path)
    assert len(frame) == 24_000 and len(frame["gene"].cat.categories) == 4000


def test_table_without_row_names(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("cluster,gene,avg_log2FC,p_val_adj\n0,CD3D,2.5,1e-300\n0,CD3E,2.4,NA\n1,MS4A1,3,0\n")
    assert assert_reads_as_pandas(path)["cluster"].tolist() == ["0", "0", "1"]


def test_a_value_that_is_not_a_number_is_named_with_its_row(tmp_path):
    rows = [row(i) for i in range(20_000)]
    rows[17_500][2] = "n.s."  # in a later piece of the file than the first
    with pytest.raises(InputError, match=r"column 'avg_log2FC' of .* must be numeric, but row 17501 holds 'n.s.'"):
        load_markers(write(tmp_path / "bad.csv", rows))


def test_a_row_longer_than_the_header_is_refused_not_cut(tmp_path):
    rows = [row(0), row(1) + ['"extra"']]
    with pytest.raises(InputError, match="cannot parse .* Expected 8 fields in line 3, saw 9"):
        load_markers(write(tmp_path / "long.csv", rows))


@pytest.mark.parametrize("name, latin1", [(b'"G1.1"', b'"G\xe9.1"'), (b'"cluster"', b'"clust\xe9r"')])
def test_a_row_name_or_header_that_is_not_utf8_is_refused_as_elsewhere(tmp_path, name, latin1):
    path = write(tmp_path / "latin1.csv", [row(i) for i in range(3)])
    path.write_bytes(path.read_bytes().replace(name, latin1))
    with pytest.raises(InputError, match="cannot read .*'utf-8' codec can't decode byte 0xe9"):
        load_markers(path)


def test_a_long_first_row_and_lines_ending_in_cr_are_read(tmp_path):
    path = tmp_path / "note.csv"
    path.write_text("cluster,gene,avg_log2FC,note\n" + "".join(
        f"c{i % 2},G{i},{i},{'x' * 200_000 if i == 0 else 'n'}\n" for i in range(4)))
    assert [m.genes for m in load_markers(path)] == [("G2",), ("G3", "G1")]
    path = write(tmp_path / "cr.csv", [row(i) for i in range(4)], end="\r")
    assert_reads_as_pandas(path, compact=False)
    path = write(tmp_path / "mixed.csv", [row(i) for i in range(6)])
    path.write_bytes(path.read_bytes().replace(b'"\n"G2', b'"\r"G2').replace(b'"\n"G4', b'"\r"G4'))
    assert_reads_as_pandas(path, compact=False)
