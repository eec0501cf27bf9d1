"""Issue 14: failed and unvalidated clusters are visible where users look.

One pipeline run through the fake server, by the ``cassia`` command: cluster 0 is answered
soundly, cluster 1's Annotator keeps citing genes the cluster lacks (it never passes the
Validator), cluster 2's review call answers nonsense (it fails). summary.csv's Status, the report's
first screen and the command's last lines must each name 1 and 2 for what they are.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
from cassia.store import slug

REPO = Path(__file__).resolve().parents[2]
CASSIA = Path(sys.executable).parent / "cassia"
SMALL = REPO / "python/cassia/data/pbmc_small_markers.csv"


def script(server) -> None:
    def annotator(r):
        return r.body and "response_format" not in r.body and "tools" not in r.body

    # cluster 1 (S100A8, LYZ, ...): the reasoning rests on T-cell genes the cluster does not have
    server.add_rule(lambda r: annotator(r) and "S100A8" in r.text, "CD3E, CD3D and CD2 are high: a T cell.")
    server.add_rule(lambda r: annotator(r) and "MS4A1" in r.text, "MS4A1 and HLA-DRA: a B cell (cluster two).")
    server.add_rule(lambda r: "ReviewOutput" in str(r.body.get("response_format")) and "cluster two" in r.text,
                    {"nonsense": True})


def test_failed_and_unvalidated_clusters_are_named_in_the_summary_the_report_and_the_last_lines(fake_server, tmp_path):
    script(fake_server)
    out = tmp_path / "run"
    env = dict(os.environ, CASSIA_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([str(CASSIA), "pipeline", "--input", str(SMALL), "--provider", fake_server.url,
                           "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 3, done.stderr  # partial: one cluster failed

    summary = pd.read_csv(out / "summary.csv", dtype={"Cluster ID": str}).set_index("Cluster ID")
    assert summary["Status"].to_dict() == {"0": "ok", "1": "unvalidated", "2": "failed"}
    assert not summary.loc["1", "Validated"] and pd.notna(summary.loc["1", "Predicted General Cell Type"])

    html = (out / "report.html").read_text(encoding="utf-8")
    block = html.split('id="untrusted"', 1)[1].split("</section>", 1)[0]
    assert html.index('id="untrusted"') < html.index('id="clusters"')  # before the table: the first screen
    assert "2 clusters must not be taken at face value" in block
    items = dict(re.findall(r'<li><a href="clusters/[^"]+">([^<]+)</a>(.*?)</li>', block, re.S))
    assert set(items) == {"1", "2"}
    assert "unvalidated" in items["1"] and "CD3E" in items["1"] and "never passed the Validator" in items["1"]
    assert "failed" in items["2"] and "ModelOutputError" in items["2"]
    page = (out / "clusters" / f"{slug('1')}.html").read_text(encoding="utf-8")
    assert "Not to be taken at face value" in page

    last = done.stderr.strip().splitlines()[-2:]
    assert last[0].startswith("cassia: not to be taken at face value: 1 unvalidated") and last[0].count(": 1;") == 1
    assert last[1].startswith("cassia: not to be taken at face value: 1 failed") and last[1].endswith(
        "2; see Status in summary.csv")
