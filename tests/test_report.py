"""The report page: its content, and that it renders in a real (headless Chromium) browser."""

import base64
import json
import re
import shutil
import subprocess

import pytest
from matplotlib.figure import Figure

from circle_survival.cli import main
from circle_survival.errors import StoreError
from circle_survival.experiments import Claim, ExperimentResult, write_result
from circle_survival.report.page import load_results, render_markdown, write_report


def small_figure(title):
    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [3, 1, 2])
    ax.set_title(title)
    return fig


def make_results(root):
    for number, name, holds in ((5, "initial-signal", True), (9, "ablation", None)):
        result = ExperimentResult(
            name=name, number=number, title=f"Title {number}", scale="smoke", n_runs=12,
            numbers={"pearson_r": 0.41, "n_points": 29}, figures={"main": small_figure(name),
                                                                  "extra": small_figure("x")},
            claims=[Claim(paper=f"claim of {name}", observed="r = 0.41", holds=holds,
                          criterion="r > 0 with p < 0.05")],
            deviations=["2000 steps instead of 30000"])
        write_result(result, root / "results" / f"{name}-smoke")


def test_result_files_and_markdown(tmp_path):
    make_results(tmp_path)
    doc = json.loads((tmp_path / "results" / "ablation-smoke" / "result.json").read_text())
    assert doc["figures"]["main"] == ["main.png", "main.svg"]
    assert (tmp_path / "results" / "ablation-smoke" / "main.svg").stat().st_size > 0
    docs = load_results([tmp_path])
    assert [d["number"] for d in docs] == [5, 9]
    md = render_markdown(docs)
    assert ("| 5. Title 5 | smoke | 12 | claim of initial-signal | r > 0 with p < 0.05 | "
            "r = 0.41 | holds |") in md
    assert "undecided at this scale" in md and "2000 steps instead of 30000" in md
    assert "(docs/differences-from-the-authors-code.md)" in md


def test_report_is_self_contained(tmp_path, capsys):
    make_results(tmp_path / "store")
    main(["report", str(tmp_path / "store"), "--out", str(tmp_path)])
    page = (tmp_path / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert 'id="claims"' in page and "claim of ablation" in page
    assert not re.search(r'(src|href)="(https?:|//)', page)  # nothing fetched from a network
    assert (tmp_path / "report.md").is_file()
    assert "<th>criterion (this tool)</th>" in page
    assert '<td class="criterion">r &gt; 0 with p &lt; 0.05</td>' in page
    link = re.search(r'<a href="([^"]*differences-from-the-authors-code\.md)"', page).group(1)
    assert "/" not in link and (tmp_path / link).is_file()  # a copy beside the report


def test_report_without_results_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(StoreError, match="no reproduced experiments"):
        write_report([tmp_path], tmp_path / "r.html")
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "missing"), "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "no such file or directory" in capsys.readouterr().err


CHECK_SCRIPT = """
<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const claims = document.querySelectorAll('table#claims tbody tr').length;
  const div = document.createElement('div');
  div.id = 'browser-check';
  div.textContent = `images=${imgs.length} loaded=${ok} claims=${claims}`;
  document.body.appendChild(div);
});
</script>
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(chromium() is None, reason="no Chromium on this machine (.ci/run installs "
                                                "Debian's chromium package)")
def test_report_renders_in_headless_chromium(tmp_path):
    make_results(tmp_path / "store")
    out, _ = write_report([tmp_path / "store"], tmp_path / "report.html")
    probe = tmp_path / "probe.html"
    probe.write_text(out.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'id="browser-check">images=(\d+) loaded=(\d+) claims=(\d+)<', dom)
    assert m, dom[-2000:]
    images, loaded, claims = map(int, m.groups())
    assert images == 4 and loaded == 4
    assert claims == 2


def one_result(root, **changes):
    """A result folder written by write_result, then its result.json edited by ``changes``."""
    result = ExperimentResult(
        name="initial-signal", number=5, title="Title 5", scale="smoke", n_runs=3,
        numbers={"r": float("nan"), "p_value": 0.0123456, "count": 12345678,
                 "rates": [0.123456, 0.5, 1.0], "long": list(range(100)),
                 "per_d": {"d": [16, 32], "circles": [1.23456, float("inf")]},
                 "fit": {"slope": 2.71828, "intercept": -1.0}},
        figures={"main": small_figure("x")},
        claims=[Claim(paper="the paper's words", observed="observed", holds=False,
                      criterion="Pearson r > 0 at p < 0.05")])
    path = write_result(result, root / "res")
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))
    return path, doc


def test_result_json_carries_provenance_and_what_was_not_finite(tmp_path):
    import pandas as pd

    from circle_survival import __version__
    from circle_survival.report.provenance import PROVENANCE_KEYS

    runs = pd.DataFrame({"resolved_device": ["cpu", "cpu"], "dtype": ["float64", "float32"]})
    result = ExperimentResult(name="x", number=1, title="t", scale="smoke", n_runs=2,
                              numbers={"a": [1.0, float("nan")], "b": {"c": float("-inf")}},
                              figures={}, claims=[])
    doc = json.loads(write_result(result, tmp_path, runs=runs).read_text())
    prov = doc["provenance"]
    assert set(prov) == set(PROVENANCE_KEYS)
    assert prov["package"] == f"circle-survival {__version__}"
    assert prov["device"] == "cpu" and prov["dtype"] == "float32, float64"
    assert prov["torch"] and prov["python"][0].isdigit() and prov["date"].endswith("UTC")
    assert doc["not_finite"] == {"a.1": "nan", "b.c": "-inf"}
    assert doc["numbers"]["a"] == [1.0, None]


def test_pdf_on_request(tmp_path):
    result = ExperimentResult(name="x", number=1, title="t", scale="smoke", n_runs=2,
                              numbers={}, figures={"f": small_figure("f")}, claims=[])
    doc = json.loads(write_result(result, tmp_path, formats=("png", "pdf")).read_text())
    assert doc["figures"]["f"] == ["f.png", "f.pdf"]
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")


def test_report_shows_provenance_criterion_na_and_rounding(tmp_path):
    one_result(tmp_path)
    out, md = write_report([tmp_path / "res"], tmp_path / "r.html")
    page, summary = out.read_text(), md.read_text()
    for key in ("package", "git commit", "torch", "python", "device", "dtype", "date",
                "command"):
        assert f"<th>{key}</th>" in page
    assert "criterion (this tool)" in page and "the paper" in page
    assert '<td class="criterion">Pearson r &gt; 0 at p &lt; 0.05</td>' in page
    assert "<td>the paper&#39;s words</td>" in page  # the paper's words in their own column
    assert "n/a (not a number: undefined for these runs)" in page
    assert "r: n/a (not a number: undefined for these runs)" in summary
    assert "<td>0.0123</td>" in page and "p_value: 0.0123" in summary
    assert "12,345,678" in page
    assert "<td>0.123, 0.5, 1</td>" in page  # a short list, each rounded
    assert "100 values: min 0, median 50, max 99" in page  # a long list summarised
    assert "<th>d</th><th>circles</th>" in page  # a dict of columns as a small table
    assert "<td>32</td><td>n/a (infinite)</td>" in page and "<td>1.23</td>" in page
    assert "<tr><td>slope</td><td>2.72</td></tr>" in page
    assert "[" not in re.sub(r"<(style|script)>.*?</\1>", "", page, flags=re.S).split(
        "<h3>Numbers</h3>")[1]  # no JSON dumps


def test_values_are_escaped_in_html_and_markdown(tmp_path):
    evil = "<script>alert(1)</script>"
    path, doc = one_result(tmp_path, title=evil, name=evil, deviations=[evil],
                           numbers={evil: evil, "nested": {evil: [evil]}},
                           provenance={"command": evil})
    doc["claims"][0]["observed"] = evil
    path.write_text(json.dumps(doc))
    out, md = write_report([path], tmp_path / "r.html")
    page = out.read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in md.read_text()


@pytest.mark.parametrize("name", ["../outside.png", "ABSOLUTE", "link.png"])
def test_figures_outside_the_result_folder_are_skipped(tmp_path, caplog, name):
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"\x89PNG secret")
    if name == "ABSOLUTE":
        name = str(outside)
    path, doc = one_result(tmp_path)
    (tmp_path / "res" / "link.png").symlink_to(outside)
    doc["figures"]["main"] = [name]
    path.write_text(json.dumps(doc))
    with caplog.at_level("WARNING", logger="circle_survival.report"):
        out, _ = write_report([path], tmp_path / "r.html")
    page = out.read_text()
    assert "data:image/png" not in page
    assert "outside the result folder" in caplog.text
    assert base64.b64encode(b"\x89PNG secret").decode() not in page


@pytest.mark.parametrize("change, message", [
    ({"claims": "x"}, "'claims' should be a list, not str"),
    ({"number": "5"}, "'number' should be an integer, not str"),
    ({"n_runs": True}, "'n_runs' should be an integer, not bool"),
    ({"claims": [{"paper": "p", "observed": "o"}]}, "claims[0] has no 'holds'"),
    ({"claims": [{"paper": "p", "observed": "o", "holds": "yes"}]},
     "claims[0].holds should be true, false or null, not str"),
    ({"figures": {"main": "main.png"}}, "figures['main'] should be a list of file names"),
    ({"provenance": ["x"]}, "'provenance' should be an object, not list"),
])
def test_malformed_result_is_one_clear_line_and_writes_nothing(tmp_path, capsys, change,
                                                               message):
    path, _ = one_result(tmp_path, **change)
    out = tmp_path / "new" / "r.html"
    with pytest.raises(SystemExit) as exc:
        main(["report", str(path), "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "new").exists()  # the output folder is not created


def test_missing_key_and_non_utf8_result(tmp_path):
    path, doc = one_result(tmp_path)
    del doc["title"]
    path.write_text(json.dumps(doc))
    with pytest.raises(StoreError, match="key 'title' is missing"):
        load_results([path])
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(StoreError, match="not UTF-8 JSON"):
        load_results([path])
    path.write_text("[1, 2]")
    with pytest.raises(StoreError, match="the document is list, not an object"):
        load_results([path])


def test_result_without_provenance_still_reports(tmp_path):
    path, doc = one_result(tmp_path)
    del doc["provenance"], doc["not_finite"]
    path.write_text(json.dumps(doc))
    page = write_report([path], tmp_path / "r.html")[0].read_text()
    assert "<th>torch</th><td>not recorded</td>" in page
    assert "n/a (no value for these runs)" in page


WIDE = {"long": list(range(400)), "wide": {f"column_{i}": [1.5 * i, 2.5 * i] for i in range(40)}}


@pytest.mark.skipif(chromium() is None, reason="no Chromium on this machine (.ci/run installs "
                                                "Debian's chromium package)")
def test_a_moved_report_is_whole_and_its_wide_tables_scroll_inside_it(tmp_path):
    """The report folder, moved elsewhere, opens with every figure, links only within itself,
    and keeps its wide tables inside the page (screenshot)."""
    import os

    playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    make_results(tmp_path / "store")
    result = ExperimentResult(name="dimension", number=2, title="Wide", scale="smoke",
                              n_runs=3, numbers=WIDE, figures={"main": small_figure("w")},
                              claims=[Claim(paper="p " * 80, observed="o " * 80, holds=True,
                                            criterion="c " * 80)])
    write_result(result, tmp_path / "store" / "results" / "dimension-smoke")
    out, _ = write_report([tmp_path / "store"], tmp_path / "report" / "report.html")
    moved = tmp_path / "elsewhere"
    shutil.move(out.parent, moved)
    shutil.rmtree(tmp_path / "store")  # the results it came from are gone too
    html = (moved / "report.html").read_text()
    for ref in re.findall(r'(?:href|src)="([^"]+)"', html):
        assert ref.startswith(("data:", "#")) or "/" not in ref, ref
        if not ref.startswith(("data:", "#")):
            assert (moved / ref).is_file(), ref
    shots = os.environ.get("CIRCLE_SURVIVAL_SCREENSHOTS", str(tmp_path))
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        requests = []
        page.route("**/*", lambda r: (requests.append(r.request.url), r.continue_()
                                      if r.request.url.startswith(("file:", "data:"))
                                      else r.abort()))
        page.goto((moved / "report.html").as_uri())
        loaded = page.evaluate("[...document.images].filter(i => i.naturalWidth > 0).length")
        assert loaded == len(page.query_selector_all("img")) == 5
        assert page.evaluate("document.documentElement.scrollWidth") <= 1000
        page.screenshot(path=f"{shots}/report.png", full_page=True)
        browser.close()
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
