"""The report: one self-contained HTML page (and a Markdown summary) of reproduced experiments.

It reads the ``result.json`` files that ``circle-survival reproduce`` writes (into
``STORE/results/<name>-<scale>/``) and embeds their PNG figures as data URIs, so the page needs
no network and no other file to be viewed.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import StoreError
from .layout import RESULT_FILE, StoreLayout
from .text import DIFFERENCES_PAGE, runs_text, verdict_text


def differences_link(out_dir: str | Path | None = None) -> str:
    """Where a report written into ``out_dir`` links the page of departures from the authors'
    code: a path relative to ``out_dir`` in a source checkout, else the page's path in the
    repository."""
    page = Path(__file__).resolve().parents[2] / DIFFERENCES_PAGE
    if out_dir is None or not page.is_file():
        return DIFFERENCES_PAGE
    return Path(os.path.relpath(page, Path(out_dir).resolve())).as_posix()


def find_results(paths: Iterable[str | Path]) -> list[Path]:
    """result.json files under each path: a store (its ``results/``), a results directory,
    or a result.json itself. Raises StoreError when a path holds none."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file() and p.name == RESULT_FILE:
            hits = [p]
        elif (p / RESULT_FILE).is_file():
            hits = [p / RESULT_FILE]
        elif p.is_dir():
            hits = StoreLayout(p).result_files() or sorted(p.glob(f"*/{RESULT_FILE}"))
        else:
            raise StoreError(f"{p}: no such file or directory")
        if not hits:
            raise StoreError(f"{p}: no reproduced experiments found (run 'circle-survival "
                             "reproduce NAME STORE' first)")
        found += hits
    return found


def load_results(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The result documents (with their directory under "_dir"), sorted by experiment."""
    docs = []
    for f in find_results(paths):
        try:
            doc = json.loads(f.read_bytes().decode("utf-8"))
        except (OSError, ValueError):  # unreadable, not UTF-8, not JSON
            raise StoreError(f"{f}: damaged result file") from None
        doc["_dir"] = str(f.parent)
        docs.append(doc)
    return sorted(docs, key=lambda d: (d.get("number", 0), d.get("name", ""), d.get("scale")))


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _numbers_table(numbers: dict[str, Any]) -> str:
    rows = []
    for k, v in numbers.items():
        if isinstance(v, float):
            text = f"{v:.4g}"
        elif isinstance(v, list | dict):
            text = json.dumps(v)
            if len(text) > 160:
                text = text[:157] + "..."
        else:
            text = str(v)
        rows.append(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(text)}</td></tr>")
    return f'<table class="numbers">{"".join(rows)}</table>'


CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
table.claims td.holds { background: #e3f4e1; } table.claims td.fails { background: #fbe3e1; }
table.claims td.undecided { background: #f3f3f3; }
img { max-width: 100%; display: block; margin: 0.8em 0; border: 1px solid #eee; }
.note { color: #666; font-size: 0.9em; }
"""


def _verdict_class(holds: bool | None) -> str:
    return {True: "holds", False: "fails", None: "undecided"}[holds]


def render_html(docs: Sequence[dict[str, Any]], title: str = "circle-survival: reproduction "
                "report", link: str = DIFFERENCES_PAGE) -> str:
    """The page: a claims table over all experiments, then each experiment's section."""
    claim_rows = []
    for d in docs:
        for c in d.get("claims", []):
            claim_rows.append(
                f"<tr><td>{d['number']}. {html.escape(d['title'])}</td>"
                f"<td>{html.escape(c['paper'])}</td>"
                f"<td>{html.escape(c.get('criterion', ''))}</td>"
                f"<td>{html.escape(c['observed'])}</td>"
                f'<td class="{_verdict_class(c["holds"])}">{verdict_text(c["holds"])}</td>'
                f"<td>{html.escape(d['scale'])}, {runs_text(d['n_runs'])}</td></tr>")
    sections = []
    for d in docs:
        figs = []
        for name, files in d.get("figures", {}).items():
            png = next((f for f in files if f.endswith(".png")), None)
            if png and (Path(d["_dir"]) / png).is_file():
                figs.append(_img(Path(d["_dir"]) / png, f"{d['name']}: {name}"))
        dev = "".join(f"<li>{html.escape(x)}</li>" for x in d.get("deviations", []))
        sections.append(
            f'<section id="{html.escape(d["name"])}-{html.escape(d["scale"])}">'
            f"<h2>{d['number']}. {html.escape(d['title'])} "
            f"<span class=\"note\">({html.escape(d['scale'])} scale, "
            f"{runs_text(d['n_runs'])})</span>"
            f"</h2>"
            + (f"<p class=\"note\">Departures from the paper:</p><ul class=\"note\">{dev}</ul>"
               if dev else "")
            + "".join(figs) + _numbers_table(d.get("numbers", {})) + "</section>")
    return (
        f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class=\"note\">Each experiment of arXiv 2405.17420 that was reproduced: its "
        f"figures, the numbers behind them, and the paper's claims next to what these runs "
        f"show. Where this tool departs from the authors' code (their slips, corrected, and "
        f"every other difference) is listed on "
        f'<a href="{html.escape(link)}">{html.escape(DIFFERENCES_PAGE)}</a>.</p>'
        f'<h2>Claims</h2><table class="claims" id="claims"><thead><tr><th>experiment</th>'
        f"<th>the paper</th><th>criterion here</th><th>these runs</th><th>verdict</th>"
        f"<th>scale</th></tr></thead>"
        f"<tbody>{''.join(claim_rows)}</tbody></table>"
        + "".join(sections) + "</body></html>")


def render_markdown(docs: Sequence[dict[str, Any]], link: str = DIFFERENCES_PAGE) -> str:
    """A terminal-friendly summary: the claims table and the key numbers."""
    lines = ["# circle-survival: reproduction report", "",
             "Departures from the authors' code (their slips, corrected, and every other "
             f"difference): [{DIFFERENCES_PAGE}]({link}).", "",
             "| experiment | scale | runs | the paper | criterion here | these runs | verdict |",
             "|---|---|---|---|---|---|---|"]
    for d in docs:
        for c in d.get("claims", []):
            cells = [f"{d['number']}. {d['title']}", d["scale"], str(d["n_runs"]), c["paper"],
                     c.get("criterion", ""), c["observed"], verdict_text(c["holds"])]
            lines.append("| " + " | ".join(x.replace("|", "/") for x in cells) + " |")
    for d in docs:
        lines += ["", f"## {d['number']}. {d['title']} "
                      f"({d['scale']} scale, {runs_text(d['n_runs'])})"]
        for x in d.get("deviations", []):
            lines.append(f"- departs from the paper: {x}")
        for k, v in d.get("numbers", {}).items():
            if isinstance(v, int | float | str | bool) or v is None:
                lines.append(f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}")
    return "\n".join(lines) + "\n"


def write_report(paths: Iterable[str | Path], out: str | Path) -> tuple[Path, Path]:
    """Write OUT (HTML) and OUT with suffix .md; return both paths."""
    docs = load_results(paths)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    md = out.with_suffix(".md")
    tmp = out.with_suffix(out.suffix + ".part")
    link = differences_link(out.parent)
    tmp.write_text(render_html(docs, link=link))
    tmp.replace(out)
    md.write_text(render_markdown(docs, link=link))
    return out, md
