"""Tests of explore.py: the page's data against the store, its self-containedness, and the page
itself in headless Chromium (Playwright): it loads without console errors, the step slider
moves the plotted points, another frequency or run redraws."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from circle_survival import RunConfig, fourier, load, train_to_store
from circle_survival.analysis import collaboration
from circle_survival.report.explorer import (
    explorer_data,
    final_planes,
    render_page,
    thin_indices,
    write_explorer,
)
from circle_survival.training.record_plan import log_steps, recording_preset

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("explore") / "s"
    base = RunConfig(p=11, d=8, hidden=(16,), steps=60, device="cpu",
                     snapshot_steps=(10, 30), **recording_preset("explore", 60))
    train_to_store([base.replace(embedding_seed=i, mlp_seed=i, split_seed=i) for i in range(3)],
                   path)
    return load(path)


def test_log_steps_are_log_spaced_and_bounded():
    s = log_steps(30_000)
    assert s[0] == 1 and s[-1] == 30_000 and 50 <= len(s) <= 60
    assert np.all(np.diff(s) > 0)
    assert recording_preset("explore", 30_000)["signal_dense_until"] == 1000


def test_thin_indices_keep_ends_and_bound_count():
    steps = np.arange(30_001)
    idx = thin_indices(steps, 100)
    assert idx[0] == 0 and idx[-1] == 30_000 and len(idx) <= 102
    np.testing.assert_array_equal(thin_indices(steps[:50], 100), np.arange(50))


def test_final_planes_match_fft_plane_on_the_final_embedding():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(3, 11, 8))
    got = final_planes(e, e[-1], [1, 2, 3])
    for i, k in enumerate([1, 2, 3]):
        np.testing.assert_allclose(got[i, -1], fourier.fft_plane(e[-1], k), atol=1e-12)


def test_data_follow_the_store(store):
    rid = store.runs.index[1]
    data = explorer_data(store, rid, max_embedding_runs=2)
    run = data["runs"][0]
    assert run["id"] == rid and run["circles"] == list(store.runs.loc[rid, "circles"])
    steps, sig = store.signals(rid)
    np.testing.assert_allclose(run["signals"][2], sig[:, 3], rtol=1e-4)
    emb = run["embedding"]
    assert emb["steps"] == sorted(store.embeddings(rid))
    assert data["runs"][1]["embedding"] is not None and data["runs"][2]["embedding"] is None
    assert set(run["collaboration"]["modes"]) == set(collaboration.MODES)
    assert len(data["summary"]["freq"]["k"]) == 3 * 5
    with pytest.raises(Exception, match="no run"):
        explorer_data(store, "nope")


def test_data_count_circles_by_the_chosen_rule(store):
    authors = explorer_data(store, max_embedding_runs=0, collaboration=False)
    every = explorer_data(store, max_embedding_runs=0, collaboration=False, rule="absolute:0")
    assert authors["circle_rule"] == "2x-mean" and every["circle_rule"] == "absolute:0"
    assert "S_k > 0" in every["circle_rule_text"]
    assert [r["circles"] for r in authors["runs"]] == [
        [int(c) for c in store.runs.loc[r["id"], "circles"]] for r in authors["runs"]]
    assert all(sorted(r["circles"]) == [1, 2, 3, 4, 5] for r in every["runs"])
    assert every["summary"]["circles"]["n_circles"] == [5, 5, 5]
    assert all(every["summary"]["freq"]["survived"])


def test_page_is_self_contained(store, tmp_path):
    out = write_explorer(store, tmp_path / "x.html")
    from plotly.offline import get_plotlyjs

    text = out.read_text()
    assert get_plotlyjs() in text
    text = text.replace(get_plotlyjs(), "")  # plotly.js holds links it never fetches
    assert not re.search(r"""(src|href)=["']https?:""", text)
    assert "<script src" not in text
    payload = text.split('<script id="data" type="application/json">')[1].split("</script>")[0]
    assert len(json.loads(payload)["runs"]) == 3


def _page(store, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"no Chromium at {CHROMIUM}")
    return playwright, write_explorer(store, tmp_path / "page.html")


def test_page_in_a_browser(store, tmp_path):
    playwright, out = _page(store, tmp_path)
    errors = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists()
                                     else shutil.which("chromium"),
                                     args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
                   else (errors.append("network: " + r.request.url), r.abort()))
        page.goto(out.as_uri())
        page.wait_for_function("document.getElementById('emb').data !== undefined")
        xs = "JSON.stringify(document.getElementById('emb').data[1].x)"
        n_traces = "document.getElementById('signals').data.length"
        assert page.evaluate(n_traces) == 5

        def set_value(id_, value, event):
            page.evaluate(f"""(() => {{ const el = document.getElementById('{id_}');
                el.value = '{value}'; el.dispatchEvent(new Event('{event}')); }})()""")

        last = page.evaluate(xs)
        set_value("step", 0, "input")
        first = page.evaluate(xs)
        assert first != last
        assert page.inner_text("#steplabel") == "step 0"
        set_value("step", 3, "input")
        assert page.evaluate(xs) not in (first, last)
        title = "JSON.stringify(document.getElementById('emb').layout.title)"
        k_before = page.evaluate(title)
        other_k = page.evaluate("""(() => { const s = document.getElementById('freq');
            return [...s.options].map(o => o.value).find(v => v !== s.value); })()""")
        before = page.evaluate(xs)
        set_value("freq", other_k, "change")
        assert page.evaluate(title) != k_before and page.evaluate(xs) != before
        set_value("plane", "own", "change")
        assert page.evaluate(xs) != before
        sig_before = page.evaluate("JSON.stringify(document.getElementById('signals').data[0].y)")
        other_run = store.runs.index[2]
        set_value("run", other_run, "change")
        assert other_run in page.inner_text("#runinfo") or page.evaluate(
            "document.getElementById('run').value") == other_run
        assert page.evaluate(
            "JSON.stringify(document.getElementById('signals').data[0].y)") != sig_before
        assert page.evaluate("document.getElementById('collab').data.length") > 0
        browser.close()
    assert errors == []


OVERLAP = """(id) => {
    const box = (sel) => { const el = document.querySelector(sel);
        if (!el) return null; const r = el.getBoundingClientRect();
        return r.width > 0 ? [r.left, r.top, r.right, r.bottom] : null; };
    return [box('#' + id + ' .modebar'), box('#' + id + ' .gtitle')];
}"""


def test_the_toolbar_never_hides_a_title(store, tmp_path):
    """Hovered, each plot shows its toolbar above its title, never over it (screenshot)."""
    playwright, out = _page(store, tmp_path)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists()
                                     else shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(out.as_uri())
        page.wait_for_function("document.getElementById('emb').data !== undefined")
        ids = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')].map(e => e.id)")
        assert len(ids) >= 4
        checked = 0
        for id_ in ids:
            page.hover(f"#{id_}")
            bar, title = page.evaluate(OVERLAP, id_)
            if bar is None or title is None:
                continue
            checked += 1
            apart = bar[3] <= title[1] or title[3] <= bar[1] or bar[2] <= title[0] \
                or title[2] <= bar[0]
            assert apart, f"{id_}: toolbar {bar} over title {title}"
        shot = Path(os.environ.get("CIRCLE_SURVIVAL_SCREENSHOTS", tmp_path)) / "explorer.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert checked >= 4 and shot.stat().st_size > 10_000


def test_render_escapes_closing_tags():
    page = render_page({"runs": [], "summary": {}, "max_embedding_runs": 0, "store": "</script>"})
    assert "<\\/script>" in page
