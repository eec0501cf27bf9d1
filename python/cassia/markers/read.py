"""Turn whatever the user hands us (a path, a DataFrame, an AnnData) into one raw table.

A text file of statistics is read compactly by Arrow's streaming CSV reader: numbers as
floats, names as categories, kept exactly as written ("007", "7_0"). Any other text file, or
one that reader would not read as pandas does, is read with every cell as a string, and the
statistics are converted later with errors that name the bad value.
Scanpy results (an AnnData's ``uns["rank_genes_groups"]``) are flattened by :mod:`.rgg` into the
same long shape ``sc.get.rank_genes_groups_df`` produces, so one code path handles both.
"""

from __future__ import annotations

import csv
import gzip
import importlib
import stat
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

from ..errors import ConfigError, InputError
from ..spelling import current_interface, spell
from .names import EXACT_KEYS, NA_TEXT, NUMERIC_KEYS, ROWNAME_HEADERS, key
from .rgg import rank_genes_groups_frame

DELIMITERS = (",", "\t", ";", "|")
# Bytes parsed at a time by the compact reader: above MAX_LINE_BYTES, so any one line fits;
# Arrow reads a few dozen blocks ahead, so this sets most of the reader's own memory.
_BLOCK_BYTES = 1 << 20
_MERGE_NAMES = 1 << 18  # text names the compact reader holds before merging them into a column's
_SCAN_BLOCK = 1 << 22  # bytes checked at a time by _scan_text

# Size limits: far above any real marker table, low enough that a hostile file fails fast.
MAX_LINE_BYTES = 1_000_000
MAX_FIELDS = 10_000
# What a damaged or truncated file raises while it is read (gzip, zlib, h5py, the csv parser).
READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)


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


def _gzipped(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _open_binary(path: Path):
    return gzip.open(path, "rb") if _gzipped(path) else open(path, "rb")


def _scan_text(path: Path) -> tuple[str, str, int]:
    """Check the whole file once (NUL bytes, line length, gzip integrity); returns its first two
    lines and its number of lines (counting an unterminated last one).

    pandas' parser stops a field at a NUL byte and takes minutes over a megabyte header, so both
    are refused here, before parsing, with the line they are on. The file is scanned in blocks
    with searches that run in C (an atlas table has millions of lines: a Python loop per line
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
    nul = block.find(b"\0")
    if nul >= 0:
        where = number + block.count(b"\n", 0, nul)
        raise InputError(f"line {where} of {path} holds NUL bytes; it is a binary file or saved as UTF-16: save "
                         "the table as UTF-8 CSV or TSV")
    # Hop from line end to the last line end within MAX_LINE_BYTES of it: a few searches a
    # block, each stopping at the first line break it meets, instead of finding them all.
    end = -1 - run  # where the line before the open one ended
    while len(block) - 1 - end > MAX_LINE_BYTES:
        reach = block.rfind(b"\n", max(end + 1, 0), end + 1 + MAX_LINE_BYTES)
        if reach < 0:
            where = number + block.count(b"\n", 0, max(end + 1, 0))
            raise InputError(f"line {where} of {path} is longer than {MAX_LINE_BYTES:,} bytes; a marker table has "
                             "short lines (one gene, or one cluster's gene list, a row)")
        end = reach
    last = block.rfind(b"\n")
    lines = int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 10))  # 3x faster than bytes.count
    return number + lines, len(block) - 1 - (last if last >= 0 else -1 - run)


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
    """A statistics table read compactly: numbers as floats, text as categories.

    An atlas table has millions of rows; as Python strings every cell costs ~50 bytes, as a
    float 4-8 and as a category code 4. Arrow's streaming CSV reader parses the file a block
    at a time; each column is allocated once for ``rows`` (the file's line count bounds them)
    and every batch is copied into it before the next is parsed, so the peak is the compact
    table plus the blocks Arrow holds. R's row-name column (unique per row, never used) is
    checked, not kept.

    Returns None when the table does not fit this fast path: no statistic columns, a row
    longer or shorter than the header, a value that is not a number or not UTF-8, or a field
    starting with a space (the general reader drops spaces after a delimiter, and then a
    quote opens a quoted field; Arrow keeps both). The general string reader then reads it
    and the checks explain what is wrong.
    """
    try:
        names = [n.strip() for n in next(csv.reader([header.rstrip("\r\n")], delimiter=sep, skipinitialspace=True))]
        fields = next(csv.reader([first_row.rstrip("\r\n")], delimiter=sep), [])
    except csv.Error:  # a field over csv's limit of 131,072 characters
        return None
    numeric = [n for n in names if key(n) in NUMERIC_KEYS]
    if not numeric or len(set(names)) != len(names) or len(fields) != len(names) or "\ufffd" in header:
        return None  # (U+FFFD: the header is not UTF-8; Arrow is given the names, so only this checks it)
    skip = names[0] if names[0].lower() in ROWNAME_HEADERS else None
    text = [n for n in names if n != skip and n not in numeric]
    if "" in text:  # pandas calls such a column "Unnamed: i": left to the general reader
        return None
    # p-values keep double precision (below 1e-38 is common); other numbers are float32
    columns = {n: np.empty(rows, dtype=np.float64 if key(n) in EXACT_KEYS else np.float32) for n in numeric}
    vocabularies = {n: _Vocabulary(np.empty(rows, dtype=np.int32)) for n in text}
    try:
        filled = _fill(path, _arrow_options(names, sep, numeric, text, skip), rows, skip, columns, vocabularies)
        if filled is None:
            return None
        data = {}
        for n in names:
            if n in columns:
                values = columns.pop(n)
                data[n] = values[:filled].copy() if filled < rows else values  # blank lines, quoted line breaks
            elif n in vocabularies:
                data[n] = vocabularies.pop(n).categorical(filled)
        return pd.DataFrame(data, copy=False)
    finally:  # Arrow's allocator keeps freed blocks for itself; the rest of the run allocates elsewhere
        pa.default_memory_pool().release_unused()


def _fill(path: Path, options: dict, rows: int, skip: str | None, columns: dict[str, np.ndarray],
          vocabularies: dict[str, _Vocabulary]) -> int | None:
    """Parse the file into the columns a batch at a time; returns the rows filled, or None
    when the file does not fit the compact reader (see :func:`_read_typed`)."""
    filled = 0
    try:
        with _arrow_stream(path) as stream, np.errstate(over="ignore"):  # beyond float32: inf, silently
            for batch in pa_csv.open_csv(stream, **options):
                end = filled + batch.num_rows
                if end > rows:  # lines that end at a lone "\r"
                    return None
                if skip is not None and _leading_space(batch.column(skip)):
                    return None
                for n, values in columns.items():  # a missing value becomes NaN
                    values[filled:end] = batch.column(n).to_numpy(zero_copy_only=False)
                for n, vocabulary in vocabularies.items():
                    if _leading_space(batch.column(n).dictionary):
                        return None
                    vocabulary.add(filled, end, batch.column(n))
                filled = end
    except (pa.ArrowInvalid, OSError):  # a parse or conversion error; OSError: gzip
        return None
    return filled


def _arrow_stream(path: Path) -> pa.NativeFile:
    raw = pa.OSFile(str(path))
    return pa.CompressedInputStream(raw, "gzip") if _gzipped(path) else raw


def _arrow_options(names: list[str], sep: str, numeric: list[str], text: list[str], skip: str | None) -> dict:
    """Arrow's CSV options for :func:`_read_typed`: the header read already, the NA spellings
    of the statistics, text kept as written ("" and "NA" are names, as in pandas)."""
    na = sorted(NA_TEXT | {v.upper() for v in NA_TEXT} | {v.capitalize() for v in NA_TEXT})
    types = {n: pa.float64() for n in numeric} | {n: pa.dictionary(pa.int32(), pa.string()) for n in text}
    if skip is not None:
        types[skip] = pa.string()
    return {
        "read_options": pa_csv.ReadOptions(column_names=names, skip_rows=1, block_size=_BLOCK_BYTES),
        "parse_options": pa_csv.ParseOptions(delimiter=sep, newlines_in_values=True),
        "convert_options": pa_csv.ConvertOptions(column_types=types, include_columns=list(types), null_values=na,
                                                 strings_can_be_null=False),
    }


def _leading_space(values: pa.Array) -> bool:
    return pc.any(pc.starts_with(values, " ")).as_py()


class _Vocabulary:
    """A text column as codes into its names, in the order first met.

    Each batch brings codes into its own dictionary. The dictionaries wait until they hold
    as many names as the vocabulary (at least ``_MERGE_NAMES``), then one hash pass over the
    vocabulary and them says where each name went, and their batches' codes are remapped:
    every name is hashed about twice in all, and few wait at any time.
    """

    def __init__(self, codes: np.ndarray):
        self.codes = codes
        self.names = pa.array([], pa.string())
        self.waiting: list[tuple[int, int, pa.Array]] = []  # rows start, stop and their dictionary
        self.count = 0  # names waiting

    def add(self, start: int, stop: int, column: pa.DictionaryArray) -> None:
        if start == stop:  # (its empty dictionary would vanish from the merged chunks)
            return
        self.codes[start:stop] = column.indices.to_numpy()
        self.waiting.append((start, stop, column.dictionary))
        self.count += len(column.dictionary)
        if self.count >= max(len(self.names), _MERGE_NAMES):
            self.merge()

    def merge(self) -> None:
        if not self.waiting:
            return
        known = [self.names] if len(self.names) else []  # (an empty chunk would vanish from the result)
        merged = pa.chunked_array(known + [d for _, _, d in self.waiting], pa.string()).dictionary_encode()
        # the vocabulary comes first, so its names keep their codes
        for (start, stop, _), chunk in zip(self.waiting, merged.chunks[len(known):], strict=True):
            self.codes[start:stop] = chunk.indices.to_numpy()[self.codes[start:stop]]
        self.names = merged.chunk(0).dictionary
        self.waiting, self.count = [], 0

    def categorical(self, rows: int) -> pd.Categorical:
        self.merge()
        codes = self.codes[:rows].copy() if rows < len(self.codes) else self.codes
        return pd.Categorical.from_codes(codes, categories=pd.Index(self.names.to_pylist(), dtype=object))


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
