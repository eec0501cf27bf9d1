"""Rows of the first worksheet of an .xlsx workbook, read with the standard library only.

CellMarker 2.0 is published as an Excel workbook. An .xlsx file is a zip of XML parts: the cells
of a sheet refer to a shared-strings table or hold their value inline. This reader handles the
plain tables such downloads contain (strings, numbers, inline strings; no formulas evaluated) and
streams the sheet, so a large workbook does not have to fit in memory as a tree.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_CELL_REF = re.compile(r"^([A-Z]+)(\d+)$")


def iter_xlsx_rows(path: str | Path) -> Iterator[list[str]]:
    """Each row of the first sheet as a list of strings (empty cells as ""), header first.

    Raises ValueError when the file is not an xlsx workbook.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"not an xlsx file: {err}") from None
    with archive:
        names = set(archive.namelist())
        sheet = _first_sheet(archive, names)
        shared = _shared_strings(archive) if "xl/sharedStrings.xml" in names else []
        width = 0
        with archive.open(sheet) as handle:
            for _, element in ET.iterparse(handle, events=("end",)):
                if element.tag != f"{_NS}row":
                    continue
                cells: dict[int, str] = {}
                for position, cell in enumerate(element.iter(f"{_NS}c")):
                    column = _column_index(cell.get("r"), position)
                    cells[column] = _cell_value(cell, shared)
                element.clear()
                if not cells:
                    continue
                width = max(width, max(cells) + 1)
                yield [cells.get(i, "") for i in range(width)]


def _first_sheet(archive: zipfile.ZipFile, names: set[str]) -> str:
    """The part holding the workbook's first sheet (via workbook.xml and its relationships)."""
    try:
        workbook = ET.fromstring(archive.read("xl/workbook.xml"))
        rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        first = workbook.find(f"{_NS}sheets/{_NS}sheet")
        rel_id = first.get(f"{_REL_NS}id") if first is not None else None
        for rel in rels:
            if rel.get("Id") == rel_id:
                target = rel.get("Target", "").lstrip("/")
                part = target if target.startswith("xl/") else f"xl/{target}"
                if part in names:
                    return part
    except (KeyError, ET.ParseError):
        pass
    sheets = sorted(n for n in names if n.startswith("xl/worksheets/sheet") and n.endswith(".xml"))
    if not sheets:
        raise ValueError("the workbook has no worksheet")
    return sheets[0]


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    strings = []
    with archive.open("xl/sharedStrings.xml") as handle:
        for _, element in ET.iterparse(handle, events=("end",)):
            if element.tag == f"{_NS}si":
                strings.append("".join(t.text or "" for t in element.iter(f"{_NS}t")))
                element.clear()
    return strings


def _column_index(ref: str | None, position: int) -> int:
    match = _CELL_REF.match(ref or "")
    if not match:
        return position
    index = 0
    for letter in match.group(1):
        index = index * 26 + (ord(letter) - ord("A") + 1)
    return index - 1


def _cell_value(cell: ET.Element, shared: list[str]) -> str:
    kind = cell.get("t")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{_NS}t"))
    value = cell.find(f"{_NS}v")
    text = value.text if value is not None and value.text is not None else ""
    if kind == "s" and text:
        try:
            return shared[int(text)]
        except (ValueError, IndexError):
            raise ValueError(f"cell {cell.get('r')} refers to a missing shared string") from None
    if kind is None and text.endswith(".0") and text[:-2].lstrip("-").isdigit():
        return text[:-2]  # integers stored as floats (PMIDs, gene IDs)
    return text
