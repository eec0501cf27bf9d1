"""Turn whatever the user hands us (a path, a DataFrame, an AnnData) into one raw table.

Text files are read with every cell as a string, so cluster names stay exactly as written
("007", "7_0") and the statistics are converted later with errors that name the bad value.
Scanpy results (an AnnData's ``uns["rank_genes_groups"]``) are flattened into the same long
shape ``sc.get.rank_genes_groups_df`` produces, so one code path handles both.
"""

from __future__ import annotations

import csv
import gzip
import importlib
import stat
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..spelling import current_interface, spell
from .checks import suggest
from .names import EXACT_KEYS, NA_TEXT, NUMERIC_KEYS, ROWNAME_HEADERS, key

DELIMITERS = (",", "\t", ";", "|")
_CHUNK = 250_000  # rows converted at a time by the compact reader
_SCAN_BLOCK = 1 << 22  # bytes checked at a time by _scan_text

# Size limits: far above any real marker table, low enough that a hostile file fails fast.
MAX_LINE_BYTES = 1_000_000
MAX_FIELDS = 10_000
# What a damaged or truncated file raises while it is read (gzip, zlib, h5py, the csv parser).
READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)
RGG_KEY = "rank_genes_groups"
# Fields of a rank_genes_groups result that hold one value per (gene, group).
RGG_FIELDS = ("scores", "logfoldchanges", "pvals", "pvals_adj")


@dataclass
class RawTable:
    """A freshly made table (never the caller's object) and where it came from."""

    frame: pd.DataFrame
    origin: str  # "text", "rds", "h5ad", "anndata" or "dataframe"
    label: str  # how messages refer to the input
    notes: list[str]
    # rows had one field more than the header: R's write.table row names (or unquoted lists)
    short_header: bool = False


def is_anndata(obj: object) -> bool:
    """True for an AnnData object, checked by type name so anndata need not be imported."""
    return any(cls.__name__ == "AnnData" and cls.__module__.startswith("anndata")
               for cls in type(obj).__mro__)


def read_source(source: object, *, rank_key: str | None = None) -> RawTable:
    """Read a path, DataFrame or AnnData into a :class:`RawTable`. ``rank_key``: which
    ``uns`` entry of an AnnData or ``.h5ad`` holds the ranking (default: the only one)."""
    if rank_key is not None and not (is_anndata(source) or str(source).lower().endswith(".h5ad")):
        raise InputError(f"{spell('rank_key', rank_key)} names a ranking inside an AnnData or .h5ad file; "
                         "this input is a table, which holds one ranking already")
    if isinstance(source, pd.DataFrame):
        # deep copy: nothing we do downstream may reach the caller's frame
        # named as the user knows it: R's data.frame reaches the engine as a pandas DataFrame
        label = "the data frame" if current_interface() == "r" else "the DataFrame"
        return RawTable(source.copy(deep=True), "dataframe", label, [])
    if is_anndata(source):
        frame, notes = rank_genes_groups_frame(source.uns, key=rank_key)
        return RawTable(frame, "anndata", "the AnnData object", notes)
    if isinstance(source, (str, Path)):
        return _read_path(Path(source).expanduser(), rank_key)
    raise InputError(
        f"cannot read markers from a {type(source).__name__}; pass a file path (CSV/TSV/.rds/"
        ".h5ad), a pandas DataFrame, an AnnData object or a MarkerSet"
    )


def _read_path(path: Path, rank_key: str | None = None) -> RawTable:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"marker file not found: {path}; check the path") from None
    except OSError as err:
        raise InputError(f"cannot open {path} ({err.strerror or err}); check the path and its permissions") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{path} is a directory; pass the marker table file itself")
    if not stat.S_ISREG(mode):  # a FIFO or device would block or never end
        raise InputError(f"{path} is not a regular file (a pipe, socket or device); save the table to a file "
                         "and pass that")
    suffixes = [s.lower() for s in path.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last == ".rds":
        return RawTable(_read_rds(path), "rds", str(path), [])
    if last == ".h5ad":
        frame, notes = _read_h5ad(path, rank_key)
        return RawTable(frame, "h5ad", str(path), notes)
    if last in (".xlsx", ".xls"):
        raise InputError(f"{path.name} is an Excel workbook; save the sheet as CSV and pass that file")
    if last in (".rda", ".rdata"):
        raise InputError(
            f"{path.name} is an R workspace; in R save the one marker table with "
            "saveRDS(markers, 'markers.rds') or write.csv(markers, 'markers.csv')"
        )
    frame = _read_text(path)
    # pandas moved the extra first field of each row into the index
    return RawTable(frame, "text", str(path), [], not isinstance(frame.index, pd.RangeIndex))


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _scan_text(path: Path) -> tuple[str, str, int]:
    """Check the whole file once (NUL bytes, line length, gzip integrity); returns its first two
    lines and its number of lines (counting an unterminated last one).

    pandas' parser stops a field at a NUL byte and takes minutes over a megabyte header, so both
    are refused here, before parsing, with the line they are on. The file is scanned in blocks
    with vectorised searches (an atlas table has millions of lines: a Python loop per line
    cost seconds). The line count bounds the rows, so the compact reader can allocate its
    columns once.
    """
    try:
        with _open_binary(path) as handle:
            first = [handle.readline(MAX_LINE_BYTES + 1) for _ in range(2)]
            number, run = 1, 0  # the line the next byte belongs to, and its bytes so far
            for block in first:
                number, run = _check_block(path, block, number, run)
            while block := handle.read(_SCAN_BLOCK):
                number, run = _check_block(path, block, number, run)
    except READ_ERRORS as err:
        raise InputError(f"cannot read {path} ({err}); the file is damaged or truncated: check that it is a "
                         "complete text (or gzipped text) table") from None
    header, first_row = first
    lines = number - 1 + (run > 0)
    return header.decode("utf-8-sig", errors="replace"), first_row.decode("utf-8", errors="replace"), lines


def _check_block(path: Path, block: bytes, number: int, run: int) -> tuple[int, int]:
    """Refuse a NUL byte or an over-long line in ``block``, which starts on line ``number`` with
    ``run`` bytes of that line before it; returns the line number and open run after the block."""
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)  # b"\n"
    nul = block.find(b"\0")
    if nul >= 0:
        where = number + int(np.searchsorted(ends, nul))
        raise InputError(f"line {where} of {path} holds NUL bytes; it is a binary file or saved as "
                         "UTF-16: save the table as UTF-8 CSV or TSV")
    bounds = np.concatenate([[-1 - run], ends, [len(block) - 1]])  # the last piece may be an open line
    lengths = np.diff(bounds)
    longest = int(np.argmax(lengths))
    if lengths[longest] > MAX_LINE_BYTES:
        raise InputError(f"line {number + longest} of {path} is longer than {MAX_LINE_BYTES:,} bytes; a marker "
                         "table has short lines (one gene, or one cluster's gene list, a row)")
    return number + len(ends), int(lengths[-1])


def sniff_delimiter(header: str) -> str:
    """The delimiter used most in the header line (a comma for a one-column table)."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_text(path: Path) -> pd.DataFrame:
    header, first_row, lines = _scan_text(path)
    if not header.strip():
        raise InputError(f"{path} is empty; it needs a header line and one row per marker gene")
    sep = sniff_delimiter(header)
    if header.count(sep) + 1 > MAX_FIELDS:
        raise InputError(f"the header of {path} has {header.count(sep) + 1:,} fields (at most {MAX_FIELDS:,}); "
                         "check the file is a marker table with one row per gene")
    typed = _read_typed(path, sep, header, first_row, lines - 1)  # the rows are at most the lines after the header
    if typed is not None:
        return typed
    try:
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, na_filter=False,
            encoding="utf-8-sig", skipinitialspace=True, compression="infer",
        )
    except READ_ERRORS as err:
        raise InputError(f"cannot read {path} ({err}); the file is damaged or truncated") from None
    except (pd.errors.ParserError, ValueError) as err:
        raise InputError(
            f"cannot parse {path} as a delimited table ({err}); save it as plain CSV or TSV, "
            "with comma-separated gene lists in quotes"
        ) from err
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_typed(path: Path, sep: str, header: str, first_row: str, rows: int) -> pd.DataFrame | None:
    """A statistics table read compactly, in chunks: numbers as floats, text as categories.

    An atlas table has millions of rows; as Python strings every cell costs ~50 bytes, as a
    float 4-8 and as a category code 4. Each column is allocated once for ``rows`` (the file's
    line count bounds them) and every chunk is converted into it before the next is read,
    so the peak is the compact table plus one chunk (no list of chunks joined at the end, no
    copy into the frame). R's row-name column (unique per row, never used) is skipped. Returns
    None when the table does not fit this fast path (no statistic columns, rows longer than
    the header, a value that is not a number): the general string reader then reads it and the
    checks explain what is wrong.
    """
    names = [n.strip() for n in next(csv.reader([header.rstrip("\r\n")], delimiter=sep, skipinitialspace=True))]
    fields = next(csv.reader([first_row.rstrip("\r\n")], delimiter=sep), [])
    numeric = [n for n in names if key(n) in NUMERIC_KEYS]
    if not numeric or len(set(names)) != len(names) or len(fields) != len(names):
        return None
    skip = names[0] if names[0].lower() in ROWNAME_HEADERS else None
    text = [n for n in names if n != skip and n not in numeric]
    na = sorted(NA_TEXT | {v.upper() for v in NA_TEXT} | {v.capitalize() for v in NA_TEXT})
    # p-values keep double precision (below 1e-38 is common); other numbers are float32
    columns = {n: np.empty(rows, dtype=np.float64 if key(n) in EXACT_KEYS else np.float32) for n in numeric}
    columns.update({n: np.empty(rows, dtype=np.int32) for n in text})
    vocab = {n: pd.Index([], dtype=object) for n in text}  # every distinct name so far, in order met
    filled = 0
    try:
        chunks = pd.read_csv(
            path, sep=sep, usecols=[n for n in names if n != skip], encoding="utf-8-sig",
            skipinitialspace=True, compression="infer", keep_default_na=False, chunksize=_CHUNK, low_memory=False,
            na_values={n: na for n in numeric}, dtype={**{n: "float64" for n in numeric}, **{n: "category" for n in text}},
        )
        for chunk in chunks:
            end = filled + len(chunk)  # never past ``rows``: a row takes at least one line
            for n in numeric:
                columns[n][filled:end] = chunk[n].to_numpy()
            for n in text:  # the parser hashes the raw text: one Python string per distinct name
                local = chunk[n].array
                known = vocab[n].get_indexer(local.categories)  # the chunk's names in the run's vocabulary
                new = known < 0
                if new.any():
                    known[new] = np.arange(len(vocab[n]), len(vocab[n]) + int(new.sum()))
                    vocab[n] = vocab[n].append(local.categories[new].astype(object))
                mapping = np.append(known, -1).astype(np.int32)
                columns[n][filled:end] = mapping[local.codes]  # -1 (missing) picks the trailing -1
            filled = end
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, TypeError):
        return None
    data = {}
    for n in names:
        if n not in columns:
            continue
        values = columns.pop(n)
        values = values[:filled].copy() if filled < rows else values  # blank lines, quoted line breaks
        data[n] = (pd.Categorical.from_codes(values, categories=vocab[n])
                   if n in vocab else values)
    return pd.DataFrame(data, copy=False)


def _read_rds(path: Path) -> pd.DataFrame:
    pyreadr = importlib.import_module("pyreadr")
    errors = (pyreadr.custom_errors.LibrdataError, pyreadr.custom_errors.PyreadrError)
    try:
        with warnings.catch_warnings():  # "no readable objects" is reported as our error below
            warnings.simplefilter("ignore", UserWarning)
            result = pyreadr.read_r(str(path))
    except (*errors, *READ_ERRORS) as err:
        raise InputError(
            f"cannot read {path.name} as an R data.frame ({err}). Save the FindAllMarkers table "
            "itself with saveRDS(markers, 'markers.rds'), not a Seurat or list object"
        ) from err
    frames = [v for v in result.values() if isinstance(v, pd.DataFrame)]
    if not frames:
        raise InputError(
            f"{path.name} holds no data.frame (lists and Seurat objects cannot be read); "
            "save the marker table itself with saveRDS(markers, 'markers.rds')"
        )
    # Row names (make.unique'd genes) land in the index; the gene column is the truth.
    return frames[0].reset_index(drop=True)


def _read_h5ad(path: Path, rank_key: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    try:
        anndata = importlib.import_module("anndata")
    except ModuleNotFoundError as err:
        raise ConfigError(
            "reading .h5ad files needs the anndata package: pip install 'cassia[scanpy]', "
            "or export the result with sc.get.rank_genes_groups_df(adata, None).to_csv(...)"
        ) from err
    try:
        adata = anndata.read_h5ad(path, backed="r")  # backed: .uns is loaded, the matrix is not
    except (*READ_ERRORS, KeyError, ValueError, TypeError) as err:  # h5py/anndata on a damaged file
        raise InputError(f"cannot read {path} as an AnnData .h5ad file ({err}); the file is damaged, truncated "
                         "or not an .h5ad: write it again with adata.write_h5ad(...)") from None
    try:
        return rank_genes_groups_frame(adata.uns, key=rank_key)
    finally:
        adata.file.close()


def _pick_key(uns: Mapping) -> tuple[str, list[str]]:
    candidates = [k for k, v in uns.items() if isinstance(v, Mapping) and "names" in v]
    if len(candidates) == 1:
        note = [] if candidates[0] == RGG_KEY else [f"used the rank_genes_groups result stored under uns[{candidates[0]!r}]"]
        return candidates[0], note
    if candidates:  # the default key must not silently win over a result stored elsewhere
        raise InputError(
            f"the AnnData holds several rank_genes_groups results {candidates}; say which one with "
            f"{spell('rank_key', candidates[0])} (or a name from the list)"
        )
    raise InputError(
        "the AnnData has no uns['rank_genes_groups']; run sc.tl.rank_genes_groups(adata, "
        "groupby='leiden', pts=True) first (pts=True adds the pct.1/pct.2 statistics)"
    )


def _by_group(value: object, field: str) -> dict[str, np.ndarray]:
    """One array per group from a record array, a DataFrame or a dict of arrays."""
    if isinstance(value, pd.DataFrame):
        return {str(c): value[c].to_numpy() for c in value.columns}
    if isinstance(value, np.ndarray) and value.dtype.names:
        return {str(n): np.asarray(value[n]) for n in value.dtype.names}
    if isinstance(value, Mapping):
        return {str(k): np.asarray(v) for k, v in value.items()}
    raise InputError(
        f"uns['rank_genes_groups'][{field!r}] is a {type(value).__name__}, not one column per "
        "group; rerun sc.tl.rank_genes_groups or pass sc.get.rank_genes_groups_df(adata, None)"
    )


def _as_text(values: np.ndarray) -> list[str | None]:
    out = []
    for v in values:
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        out.append(None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return out


def rank_genes_groups_frame(uns: Mapping, *, key: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Flatten the rank_genes_groups result under ``key`` (else the only one) into rank_genes_groups_df's long table."""
    key, notes = (key, []) if key is not None else _pick_key(uns)
    result = uns.get(key)
    if not isinstance(result, Mapping) or "names" not in result:
        stored = [k for k, v in uns.items() if isinstance(v, Mapping) and "names" in v]
        raise InputError(f"there is no rank_genes_groups result under uns[{key!r}]; the rankings stored are "
                         f"{stored}.{suggest(key, stored)}")
    names = _by_group(result["names"], "names")
    fields = {f: _by_group(result[f], f) for f in RGG_FIELDS if f in result}
    pts = {name: result[name] for name in ("pts", "pts_rest") if isinstance(result.get(name), pd.DataFrame)}
    parts = []
    for group, genes in names.items():
        part = pd.DataFrame({"group": group, "names": _as_text(genes)})
        for f, columns in fields.items():
            part[f] = pd.to_numeric(pd.Series(columns[group]), errors="coerce").to_numpy()
        for name, column in (("pts", "pct_nz_group"), ("pts_rest", "pct_nz_reference")):
            if name in pts and group in pts[name].columns:
                table = pts[name]
                part[column] = table[group].reindex(part["names"]).to_numpy()
        # filter_rank_genes_groups blanks filtered genes to NaN: they are not markers
        parts.append(part[part["names"].notna()])
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["group", "names"])
    return frame, notes
