"""Marker databases: finding local copies, downloading (through a mock transport), the no-data error,
the xlsx conversion and the on-disk index cache."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest

import cassia
from cassia.errors import ConfigError, InputError
from cassia.knowledge.markerdb import files as databases, index as rag_index
from cassia.knowledge.markerdb.files import DATABASES, ensure_database, read_cellmarker, read_panglaodb
from cassia.knowledge.markerdb.retrieve import rank_candidates

MARKERDB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "markerdb"
PBMC = MARKERDB.parent / "markers" / "pbmc3k_findallmarkers.csv"

CELLMARKER_HEADER = ["species", "tissue_class", "tissue_type", "uberonongology_id", "cancer_type", "cell_type",
                     "cell_name", "cellontology_id", "marker", "Symbol", "GeneID", "Genetype", "Genename",
                     "UNIPROTID", "technology_seq", "marker_source", "PMID", "Title", "journal", "year"]


def _cellmarker_row(species, tissue, cell, cl_id, symbol, pmid):
    row = dict.fromkeys(CELLMARKER_HEADER, "")
    row.update(species=species, tissue_class=tissue, tissue_type=tissue, cancer_type="Normal",
               cell_type="Normal cell", cell_name=cell, cellontology_id=cl_id, marker=symbol, Symbol=symbol,
               PMID=pmid)
    return [row[c] for c in CELLMARKER_HEADER]


TINY_CELLMARKER = [
    _cellmarker_row("Human", "Blood", "B cell", "CL_0000236", "MS4A1", "111"),
    _cellmarker_row("Human", "Blood", "B cell", "CL_0000236", "CD79A", "112"),
    _cellmarker_row("Human", "Blood", "T cell", "CL_0000084", "CD3E", "113"),
    _cellmarker_row("Mouse", "Spleen", "T cell", "CL_0000084", "Cd3d", "114"),
]


def _xlsx(rows: list[list[str]]) -> bytes:
    """A minimal Excel workbook (shared strings for text, inline numbers) like the official download."""
    strings: list[str] = []
    sheet_rows = []
    for r, row in enumerate(rows, 1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{chr(ord('A') + c) if c < 26 else 'A' + chr(ord('A') + c - 26)}{r}"
            if value.isdigit():
                cells.append(f'<c r="{ref}"><v>{value}.0</v></c>')
            elif value:
                strings.append(value)
                cells.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
        sheet_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("xl/workbook.xml", f'<workbook {ns} {rel}><sheets><sheet name="All" sheetId="1" r:id="rId1"/>'
                                      "</sheets></workbook>")
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="worksheet"/></Relationships>')
        z.writestr("xl/sharedStrings.xml", f"<sst {ns}>" + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>")
        z.writestr("xl/worksheets/sheet1.xml", f"<worksheet {ns}><sheetData>{''.join(sheet_rows)}</sheetData></worksheet>")
    return buffer.getvalue()


def _panglao_gz() -> bytes:
    header = ["species", "official gene symbol", "cell type", "nicknames", "ubiquitousness index",
              "product description", "gene type", "canonical marker", "germ layer", "organ"]
    rows = [["Mm Hs", "MS4A1", "B cells", "", "0.01", "", "protein-coding gene", "1", "Mesoderm", "Immune system"],
            ["Hs", "CD3E", "T cells", "", "0.02", "", "protein-coding gene", "1", "Mesoderm", "Immune system"]]
    text = "\n".join("\t".join(r) for r in [header, *rows]) + "\n"
    return gzip.compress(text.encode())


@pytest.fixture()
def empty_dirs(tmp_path, monkeypatch):
    """No local copy anywhere: an empty CASSIA_DATA_DIR and an empty user cache."""
    monkeypatch.setenv("CASSIA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CASSIA_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    return tmp_path


def _offline_client() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("network unreachable", request=request)

    return httpx.Client(transport=httpx.MockTransport(refuse))


def test_local_copy_is_found_with_checksum(monkeypatch):
    monkeypatch.setenv("CASSIA_DATA_DIR", str(MARKERDB))
    found = ensure_database("cellmarker2", download=False)
    assert found.path == MARKERDB / "cellmarker2.tsv.gz" and found.origin == "env"
    assert found.sha256 == hashlib.sha256(found.path.read_bytes()).hexdigest()
    explicit = ensure_database("panglaodb", data_dir=MARKERDB, download=False)
    assert explicit.origin == "data_dir" and explicit.public()["version"] == "27 Mar 2020"


def test_no_data_and_no_network_gives_one_clear_error(empty_dirs):
    with pytest.raises(ConfigError) as caught:
        ensure_database("cellmarker2", client=_offline_client())
    message = str(caught.value)
    assert "CellMarker 2.0" in message and "cellmarker2.tsv.gz" in message and "panglaodb.tsv.gz" in message
    assert "CASSIA_DATA_DIR" in message and "data_dir=" in message and "ConnectError" in message
    with pytest.raises(ConfigError, match="downloads are switched off"):
        ensure_database("panglaodb", download=False)


def test_run_pipeline_with_rag_fails_before_writing_anything(empty_dirs, monkeypatch):
    def no_network(name, dest, client=None):  # what download_database raises when the host is unreachable
        raise databases._missing_error(DATABASES[name], "the download failed (ConnectError: offline)")

    monkeypatch.setattr(databases, "download_database", no_network)
    out = empty_dirs / "run"
    with pytest.raises(ConfigError, match="CASSIA_DATA_DIR"):
        cassia.run_pipeline(PBMC, provider="offline", rag=True, out_dir=out, progress=False)
    assert not out.exists()


def test_bad_data_dir_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        ensure_database("cellmarker2", data_dir=tmp_path / "missing", download=False)


def test_download_converts_the_official_files(empty_dirs):
    served = []

    def handler(request: httpx.Request) -> httpx.Response:
        served.append(str(request.url))
        if request.url.path.endswith("Cell_marker_All.xlsx"):
            return httpx.Response(200, content=_xlsx([CELLMARKER_HEADER, *TINY_CELLMARKER]))
        if request.url.path.endswith("PanglaoDB_markers_27_Mar_2020.tsv.gz"):
            return httpx.Response(200, content=_panglao_gz())
        return httpx.Response(404)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    files = [ensure_database(name, client=client) for name in DATABASES]
    assert served == [DATABASES["cellmarker2"].url, DATABASES["panglaodb"].url]
    assert all(f.origin == "downloaded" and f.path.parent == empty_dirs / "cache" / "markerdb" for f in files)
    source = json.loads((files[0].path.parent / "cellmarker2.tsv.gz.source.json").read_text())
    assert source["url"] == DATABASES["cellmarker2"].url and len(source["raw_sha256"]) == 64

    records = read_cellmarker(files[0].path)
    assert list(records["symbol"]) == ["MS4A1", "CD79A", "CD3E", "CD3D"]  # upper-cased, mouse Cd3d too
    assert list(records["pmid"]) == ["111", "112", "113", "114"]  # numbers stored as floats come back whole
    panglao = read_panglaodb(files[1].path)
    assert sorted(zip(panglao["species"], panglao["symbol"])) == [("human", "CD3E"), ("human", "MS4A1"),
                                                                  ("mouse", "MS4A1")]

    # second use: found in the cache, no request
    again = ensure_database("cellmarker2", client=client)
    assert again.origin == "cache" and len(served) == 2

    index = rag_index.load_index(client=client)
    assert index.info["loaded_from"] == "built"
    top = rank_candidates(["Ms4a1", "cd79a"], index, species="human")[0]
    assert top.cl_id == "CL:0000236" and top.matched_genes == ["Ms4a1", "cd79a"]
    assert set(top.matched[0].databases) == {"cellmarker2", "panglaodb"} and top.matched[0].pmids == ("111",)

    rag_index._memory.clear()  # a new process: the index comes from the disk cache
    cached = rag_index.load_index(client=client)
    assert cached.info["loaded_from"] == "cache"
    assert rank_candidates(["MS4A1", "CD79A"], cached)[0].cl_id == "CL:0000236"


def test_a_broken_download_is_reported(empty_dirs):
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, content=b"<html>moved</html>")))
    with pytest.raises(ConfigError, match="not a readable CellMarker 2.0 workbook"):
        ensure_database("cellmarker2", client=client)
    assert not list((empty_dirs / "cache" / "markerdb").glob("cellmarker2.tsv.gz"))
