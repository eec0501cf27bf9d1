"""The marker databases behind retrieval: where they live, how they are fetched, how they are read.

Two public databases are used, each as one table file:

- ``cellmarker2.tsv.gz``: CellMarker 2.0 (Hu et al., Nucleic Acids Research 2023), human and mouse.
  The official download is an Excel workbook (``Cell_marker_All.xlsx``); it is converted once
  into this tab-separated file with the same columns.
- ``panglaodb.tsv.gz``: PanglaoDB markers, release of 27 March 2020 (Franzén et al., Database 2019),
  downloaded as published.

Where a file is looked for, in order: ``data_dir=`` (an argument), ``$CASSIA_DATA_DIR``, then the
user cache (``$CASSIA_CACHE_DIR/markerdb`` or ``~/.cache/cassia/markerdb``). A file found nowhere
is downloaded from its official source into the user cache on first use; when that fails (no
network), one :class:`~cassia.errors.ConfigError` says how to provide the files by hand. The HTTP
client is injectable (tests pass an ``httpx.Client`` with a ``MockTransport``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pandas as pd

from ...errors import ConfigError, InputError
from ._xlsx import iter_xlsx_rows

ENV_VAR = "CASSIA_DATA_DIR"
DOWNLOAD_TIMEOUT = 120.0

Origin = Literal["data_dir", "env", "cache", "downloaded"]


@dataclass(frozen=True)
class DatabaseSpec:
    """One marker database: its local file name and its official source."""

    name: str
    filename: str
    title: str
    version: str
    url: str
    raw_format: Literal["xlsx", "tsv.gz"]
    official_filename: str  # the name of the official download, also accepted in a data folder
    citation: str


DATABASES: dict[str, DatabaseSpec] = {
    "cellmarker2": DatabaseSpec(
        name="cellmarker2",
        filename="cellmarker2.tsv.gz",
        title="CellMarker 2.0",
        version="2.0",
        url="http://bio-bigdata.hrbmu.edu.cn/CellMarker/CellMarker_download_files/file/Cell_marker_All.xlsx",
        raw_format="xlsx",
        official_filename="Cell_marker_All.xlsx",
        citation="Hu C. et al. CellMarker 2.0. Nucleic Acids Res. 2023;51(D1):D870-D876. doi:10.1093/nar/gkac947",
    ),
    "panglaodb": DatabaseSpec(
        name="panglaodb",
        filename="panglaodb.tsv.gz",
        title="PanglaoDB",
        version="27 Mar 2020",
        url="https://panglaodb.se/markers/PanglaoDB_markers_27_Mar_2020.tsv.gz",
        raw_format="tsv.gz",
        official_filename="PanglaoDB_markers_27_Mar_2020.tsv.gz",
        citation="Franzén O. et al. PanglaoDB. Database 2019;baz046. doi:10.1093/database/baz046",
    ),
}


@dataclass(frozen=True)
class DatabaseFile:
    """A database table ready to read, with what the run manifest records about it."""

    spec: DatabaseSpec
    path: Path
    sha256: str
    origin: Origin

    def public(self) -> dict[str, Any]:
        return {"title": self.spec.title, "version": self.spec.version, "file": self.path.name,
                "sha256": self.sha256, "origin": self.origin, "source_url": self.spec.url,
                "citation": self.spec.citation}


def user_cache_dir() -> Path:
    """``$CASSIA_CACHE_DIR/markerdb``, else ``$XDG_CACHE_HOME/cassia/markerdb`` or ``~/.cache/cassia/markerdb``."""
    base = os.environ.get("CASSIA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cassia")
    return Path(base) / "markerdb"


def search_dirs(data_dir: str | Path | None = None) -> list[tuple[Path, Origin]]:
    """Folders searched for the database files, in order, with what each one is."""
    found: list[tuple[Path, Origin]] = []
    if data_dir is not None:
        found.append((Path(data_dir).expanduser(), "data_dir"))
    env = os.environ.get(ENV_VAR)
    if env:
        found.append((Path(env).expanduser(), "env"))
    found.append((user_cache_dir(), "cache"))
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_database(
    name: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    client: httpx.Client | None = None,
) -> DatabaseFile:
    """The local table of database ``name``, downloading it into the user cache if needed."""
    spec = _spec(name)
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise InputError(f"data_dir {str(data_dir)!r} is not a folder; point it at the folder holding "
                         f"{DATABASES['cellmarker2'].filename} and {DATABASES['panglaodb'].filename}.")
    for folder, origin in search_dirs(data_dir):
        path = folder / spec.filename
        if path.is_file():
            return DatabaseFile(spec, path, sha256_file(path), origin)
        official = folder / spec.official_filename
        if official.is_file():  # the official download put there by hand: convert it once
            converted = _convert(spec, official, user_cache_dir())
            return DatabaseFile(spec, converted, sha256_file(converted), origin)
    if not download:
        raise _missing_error(spec, "downloads are switched off")
    path = download_database(name, user_cache_dir(), client=client)
    return DatabaseFile(spec, path, sha256_file(path), "downloaded")


def download_database(name: str, dest_dir: str | Path, *, client: httpx.Client | None = None) -> Path:
    """Fetch database ``name`` from its official source into ``dest_dir``; returns the table path."""
    spec = _spec(name)
    dest = Path(dest_dir)
    own_client = client is None
    http = client or httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{spec.name}.", suffix=".download")
        raw = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle, http.stream("GET", spec.url) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    handle.write(chunk)
            raw_sha = sha256_file(raw)
            path = _convert(spec, raw, dest)
        finally:
            raw.unlink(missing_ok=True)
    except (httpx.HTTPError, OSError) as err:
        raise _missing_error(spec, f"the download from {spec.url} failed ({type(err).__name__}: {err})") from None
    finally:
        if own_client:
            http.close()
    _write_json(dest / f"{spec.filename}.source.json",
                {"url": spec.url, "version": spec.version, "raw_sha256": raw_sha, "table_sha256": sha256_file(path)})
    return path


def _convert(spec: DatabaseSpec, raw: Path, dest: Path) -> Path:
    """Write the table file for ``spec`` from an official download (xlsx or tsv.gz) atomically."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / spec.filename
    fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{spec.filename}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if spec.raw_format == "xlsx":
            try:
                rows = iter_xlsx_rows(raw)
                with gzip.open(tmp, "wt", encoding="utf-8", newline="") as handle:
                    writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
                    for row in rows:
                        writer.writerow(row)
            except ValueError as err:
                raise ConfigError(f"{raw.name} is not a readable {spec.title} workbook ({err}); "
                                  f"download it again from {spec.url}.") from None
        else:
            with open(raw, "rb") as src, open(tmp, "wb") as out:
                out.write(src.read())
            _check_gzip(tmp, spec)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _check_gzip(path: Path, spec: DatabaseSpec) -> None:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            handle.readline()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"the {spec.title} download is not a gzip-compressed table ({err}); "
                          f"download it again from {spec.url}.") from None


def _missing_error(spec: DatabaseSpec, why: str) -> ConfigError:
    looked = ", ".join(str(folder) for folder, _ in search_dirs())
    return ConfigError(
        f"The {spec.title} marker database is not available: {spec.filename} was not found (looked in {looked}) "
        f"and {why}. Download {spec.url} yourself, put it (or {spec.filename}) in a folder, and set "
        f"{ENV_VAR}=<folder> or pass data_dir=<folder>; the folder should hold "
        f"{DATABASES['cellmarker2'].filename} and {DATABASES['panglaodb'].filename}."
    )


def _spec(name: str) -> DatabaseSpec:
    try:
        return DATABASES[name]
    except KeyError:
        raise InputError(f"unknown marker database {name!r}; choose one of {sorted(DATABASES)}.") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------- reading the tables

RECORD_COLUMNS = ["database", "species", "tissue", "tissue_group", "cell_name", "cl_id", "symbol", "pmid",
                  "weight", "cancer"]


def read_cellmarker(path: str | Path) -> pd.DataFrame:
    """CellMarker 2.0 as marker records (:data:`RECORD_COLUMNS`), one per (cell, marker, study).

    Rows whose species is not Human/Mouse are dropped (the packaged file has a few rows broken
    by stray line breaks), and so are markers without an official gene ``Symbol`` (protein names
    such as "CD45RA" or "F4/80", which a gene list never contains). Every record weighs 1.
    """
    frame = pd.read_csv(path, sep="\t", dtype=str, low_memory=False, keep_default_na=False, na_values=[""])
    _require(frame, ["species", "tissue_type", "tissue_class", "cell_name", "cellontology_id", "marker",
                     "Symbol", "PMID", "cell_type"], path)
    frame = frame[frame["species"].isin(["Human", "Mouse"])]
    symbol = frame["Symbol"].fillna("").str.replace("\xa0", "", regex=False).str.strip()
    pmid = frame["PMID"].fillna("").str.replace(r"\.0$", "", regex=True)
    out = pd.DataFrame({
        "database": "cellmarker2",
        "species": frame["species"].str.lower(),
        "tissue": frame["tissue_type"].fillna(""),
        "tissue_group": frame["tissue_class"].fillna(""),
        "cell_name": frame["cell_name"].fillna("").str.replace("\xa0", " ", regex=False).str.strip(),
        "cl_id": frame["cellontology_id"].fillna(""),
        "symbol": symbol.str.upper(),
        "pmid": pmid,
        "weight": 1.0,
        "cancer": frame["cell_type"].fillna("") == "Cancer cell",
    })
    return out[(out["symbol"] != "") & (out["cell_name"] != "")].reset_index(drop=True)


def read_panglaodb(path: str | Path) -> pd.DataFrame:
    """PanglaoDB as marker records; a row listed for both species becomes two records.

    Canonical markers weigh 2, others 1; genes PanglaoDB calls ubiquitous (index above 0.1)
    weigh half. Column names are accepted with spaces (official file) or dots (R exports).
    """
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[""])
    frame.columns = [c.strip().replace(" ", ".") for c in frame.columns]
    _require(frame, ["species", "official.gene.symbol", "cell.type", "organ", "canonical.marker"], path)
    canonical = pd.to_numeric(frame["canonical.marker"], errors="coerce").fillna(0) > 0
    ubiquity = pd.to_numeric(frame.get("ubiquitousness.index", pd.Series(0, index=frame.index)),
                             errors="coerce").fillna(0)
    weight = (1.0 + canonical.astype(float)) * (ubiquity.le(0.1).astype(float) * 0.5 + 0.5)
    parts = []
    for code, species in (("Hs", "human"), ("Mm", "mouse")):
        keep = frame["species"].fillna("").str.split().apply(lambda codes, c=code: c in codes)
        sub = frame[keep]
        parts.append(pd.DataFrame({
            "database": "panglaodb",
            "species": species,
            "tissue": sub["organ"].fillna(""),
            "tissue_group": sub["organ"].fillna(""),
            "cell_name": sub["cell.type"].fillna("").str.strip(),
            "cl_id": "",
            "symbol": sub["official.gene.symbol"].fillna("").str.strip().str.upper(),
            "pmid": "",
            "weight": weight[keep].values,
            "cancer": False,
        }))
    out = pd.concat(parts, ignore_index=True)
    return out[(out["symbol"] != "") & (out["cell_name"] != "")].reset_index(drop=True)


READERS = {"cellmarker2": read_cellmarker, "panglaodb": read_panglaodb}


def _require(frame: pd.DataFrame, columns: list[str], path: str | Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path} does not look like the expected marker table (missing columns "
                          f"{', '.join(missing)}); replace it with the official download or delete it "
                          "so it is downloaded again.")
