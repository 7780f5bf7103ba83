"""The report page: its content, and that it renders in a real (headless Chromium) browser."""

import json
import re
import shutil
import subprocess

import pytest
from matplotlib.figure import Figure

from circle_survival.cli import main
from circle_survival.errors import StoreError
from circle_survival.experiments.base import Claim, ExperimentResult, write_result
from circle_survival.report import load_results, render_markdown, write_report


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
    main(["report", str(tmp_path / "store"), "--out", str(tmp_path / "r.html")])
    page = (tmp_path / "r.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert 'id="claims"' in page and "claim of ablation" in page
    assert not re.search(r'(src|href)="(https?:|//)', page)  # nothing fetched from a network
    assert (tmp_path / "r.md").is_file()
    assert "<th>criterion (this tool)</th>" in page and '<td class="criterion">r &gt; 0 with p &lt; 0.05</td>' in page
    link = re.search(r'<a href="([^"]+differences-from-the-authors-code\.md)"', page).group(1)
    assert (tmp_path / link).resolve().is_file()  # relative to the report, in this checkout


def test_report_without_results_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(StoreError, match="no reproduced experiments"):
        write_report([tmp_path], tmp_path / "r.html")
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")])
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
