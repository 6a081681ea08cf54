"""report.py: a run folder rendered into one offline report.html, read back and checked
against the run's own files (the synthetic run of tests/synthetic_run.py, and a run made
by the real pipeline with the fake engine). The page in a real browser:
tests/test_report_browser.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from clinextract.errors import ClinextractError, ConfigError, WriteError
from clinextract.report import render_report, report_data, write_report
from clinextract.store import RunFolder
from tests.studio.helpers import REPORTS, fake_run, make_workspace
from tests.synthetic_run import INPUT, TRICKY, make_run

DATA_BLOCK = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)


def page_parts(page: str) -> tuple[dict, str]:
    """(the embedded data, the page without it)."""
    blocks = DATA_BLOCK.findall(page)
    assert len(blocks) == 1
    return json.loads(blocks[0]), DATA_BLOCK.sub("", page)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    return make_run(tmp_path_factory.mktemp("report"), 40)


def test_every_record_with_its_text_and_marks_that_point_at_its_evidence(run: RunFolder) -> None:
    data, _ = page_parts(render_report(run))
    items = run.predictions()
    records = run.records()
    assert [r["id"] for r in data["records"]] == [i["uid"] for i in items]
    for shown in data["records"]:
        rec, text = records[shown["r"]], items[shown["r"]][INPUT]
        assert shown["t"] == text and shown["s"] == rec["status"]
        assert shown["nr"] == rec["needs_review"]
        # every exact/fuzzy evidence span is covered by marks of that value, exactly
        paths = [leaf[0] for leaf in shown["L"]]
        for path, entries in rec["evidence"].items():
            for entry in (e for e in entries if e["match"] != "none"):
                marked = [
                    text[s:e] for s, e, leaves, _ in shown["S"] if paths.index(path) in leaves
                ]
                assert "".join(marked) == entry["text"]
        for path, conf in rec["confidence"].items():
            assert shown["L"][paths.index(path)][3] == pytest.approx(conf, abs=1e-3)
    failed = next(r for r in data["records"] if r["s"] == "failure")
    assert failed["err"].startswith("invalid answer") and failed["raw"]
    partial = next(r for r in data["records"] if r["s"] == "partial")
    assert partial["fe"] == {"nodus.grootte_mm": "Input should be less than or equal to 300"}


def test_nested_evidence_is_one_mark_per_piece_with_both_values(run: RunFolder) -> None:
    data, _ = page_parts(render_report(run))
    sized = [r for r in data["records"] if ["nodus.grootte_mm", "—"] not in _path_values(r)]
    rec = next(r for r in sized if "nodus.grootte_mm" in dict(_path_values(r)))
    paths = [leaf[0] for leaf in rec["L"]]
    size = paths.index("nodus.grootte_mm")
    inner = next(m for m in rec["S"] if size in m[2])
    assert paths.index("nodus.aanwezig") in inner[2]  # "6 mm" lies inside "nodus van 6 mm"
    assert "linear-gradient" in data["fills"][inner[3]]


def _path_values(rec: dict) -> list[list[str]]:
    return [[leaf[0], leaf[2]] for leaf in rec["L"]]


def test_summary_warnings_and_field_charts_agree_with_the_run(run: RunFolder) -> None:
    data, _ = page_parts(render_report(run))
    records = list(run.records().values())
    summary = data["run"]
    assert summary["rows"] == 40 and summary["status"] == "complete"
    assert summary["needs_review"] == sum(r["needs_review"] for r in records)
    assert summary["statuses"]["failure"] == sum(r["status"] == "failure" for r in records)
    assert data["warnings"] == run.manifest()["warnings"]
    charts = {f["key"]: f for f in data["fields"]}
    given = [r["fields"]["onderzoek"] for r in records if r["fields"]["onderzoek"] is not None]
    assert {label: n for label, n in charts["onderzoek"]["bars"]} == {
        v: given.count(v) for v in set(given)
    }
    sizes = [r["fields"]["nodus"]["grootte_mm"] for r in records if r["fields"]["nodus"]]
    sizes = [s for s in sizes if s is not None]
    bins = charts["nodus.grootte_mm"]
    assert bins["kind"] == "bins" and sum(b[1] for b in bins["bars"]) == len(sizes)
    assert charts["nodus"]["group"] and not charts["onderzoek"]["group"]
    assert charts["bevindingen[]"]["n"] == sum(len(r["fields"]["bevindingen"]) for r in records)


def test_report_text_cannot_break_out_and_the_page_names_no_url(run: RunFolder) -> None:
    page = render_report(run)
    data, rest = page_parts(page)
    assert TRICKY in data["records"][3]["t"]  # read back intact
    assert "</script><script>" not in page and "<b>vet" not in page
    assert page.count("</script>") == 2  # the data block and the page's script
    assert not re.search(r"[a-z][a-z0-9+.-]*://", rest, re.I), "a URL outside the data"
    assert not re.search(r"\b(src|href|action)\s*=", rest, re.I)
    assert "default-src 'none'" in rest  # and the browser may not fetch anything
    for forbidden in ("fetch(", "XMLHttpRequest", "WebSocket", "import(", "@import", "url("):
        assert forbidden not in rest


def test_an_unfinished_run_reads_texts_from_the_data_file(tmp_path: Path) -> None:
    folder = make_run(tmp_path, 12, complete=False)
    data = report_data(folder)
    lines = [json.loads(line) for line in (tmp_path / "reports.jsonl").read_text().splitlines()]
    assert [r["t"] for r in data["records"]] == [line[INPUT] for line in lines]
    assert data["run"]["status"] == "interrupted"
    (tmp_path / "reports.jsonl").unlink()  # the data file is gone: records without text
    data = report_data(folder)
    assert all(r["t"] is None and r["S"] == [] for r in data["records"])
    assert len(data["records"]) == 12
    # texts given by the caller win (a mapping or a function)
    assert report_data(folder, {0: "given"})["records"][0]["t"] == "given"
    assert report_data(folder, lambda row: f"row {row}")["records"][5]["t"] == "row 5"


def test_the_pipeline_writes_the_report_of_a_finished_run(tmp_path: Path) -> None:
    folder = RunFolder(fake_run(make_workspace(tmp_path)))  # the real pipeline, fake answers
    data, _ = page_parts(folder.report_path.read_text(encoding="utf-8"))
    assert [r["id"] for r in data["records"]] == ["r1", "r2", "r3", "r4"]
    assert data["warnings"] == folder.manifest()["warnings"]  # the finished manifest's
    records = folder.records()
    for shown in data["records"]:
        rec, paths = records[shown["r"]], [leaf[0] for leaf in shown["L"]]
        for path, entries in rec["evidence"].items():
            quoted = [e["text"] for e in entries if e["match"] != "none"]
            marked = [shown["t"][s:e] for s, e, on, _ in shown["S"] if paths.index(path) in on]
            assert "".join(marked) == "".join(quoted), (path, entries)
    assert data["records"][3]["s"] == "failure" and data["records"][3]["raw"] == "still not JSON"
    # a run without confidences (this engine gives no log-probabilities) says so
    assert all(leaf[3] is None for r in data["records"] for leaf in r["L"])


def test_an_interrupted_run_gets_no_report_until_asked(tmp_path: Path) -> None:
    settings = make_workspace(tmp_path)
    answers = iter([False, False, True])  # stop after the second row
    with pytest.raises(ClinextractError, match="cancelled"):
        fake_run(settings, should_stop=lambda: next(answers))
    folder = RunFolder(settings.output_dir / "fake" / "Task001_lesions-run0")
    assert not folder.report_path.exists()
    data = report_data(folder)
    assert [r["t"] for r in data["records"]] == [row["text"] for row in REPORTS[:2]]


def test_errors_are_config_errors(tmp_path: Path, run: RunFolder) -> None:
    with pytest.raises(ConfigError, match="not a run folder"):
        write_report(tmp_path)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(WriteError, match="cannot write the report"):
        write_report(run, output=tmp_path / "a-file" / "report.html")


def test_clinextract_report_command(tmp_path: Path, cli_env: dict[str, str]) -> None:
    folder = make_run(tmp_path, 5)
    out = tmp_path / "elsewhere.html"
    done = subprocess.run(
        ["clinextract", "report", str(folder.path), "--output", str(out)],
        capture_output=True,
        text=True,
        env=cli_env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout and out.is_file() and not folder.report_path.exists()
    text = folder.predictions()[0][INPUT]
    assert text[:40] not in done.stdout + done.stderr  # report text is never printed
    again = subprocess.run(
        ["clinextract", "report", str(folder.path)], capture_output=True, text=True, env=cli_env
    )
    assert again.returncode == 0 and folder.report_path.is_file()
    wrong = subprocess.run(
        ["clinextract", "report", str(tmp_path)], capture_output=True, text=True, env=cli_env
    )
    assert wrong.returncode == 2 and "not a run folder" in wrong.stderr
    assert "Traceback" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
