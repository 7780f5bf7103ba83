"""The report: one self-contained HTML page (and a Markdown summary) of reproduced experiments.

It reads the ``result.json`` files that ``circle-survival reproduce`` writes (into
``STORE/results/<name>-<scale>/``), checks each against the result schema, and renders the
templates ``templates/report.html.j2`` (Jinja2, every value escaped) and
``templates/report.md.j2``. PNG figures are embedded as data URIs, so the page needs no network
and no other file to be viewed; only figure files inside a result's own folder are embedded
(any other path is skipped with a warning).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..errors import StoreError
from ..store.layout import RESULT_FILE, StoreLayout, safe_path
from .number_tables import number_rows
from .provenance import NOT_RECORDED, PROVENANCE_KEYS, provenance
from .wording import DIFFERENCES_PAGE, runs_text, verdict_text

log = logging.getLogger(__name__)

TITLE = "circle-survival: reproduction report"
#: the result schema: key -> (accepted types, what the message calls them)
RESULT_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a string"), "number": ((int,), "an integer"),
    "title": ((str,), "a string"), "scale": ((str,), "a string"),
    "n_runs": ((int,), "an integer"), "numbers": ((dict,), "an object"),
    "claims": ((list,), "a list"), "deviations": ((list,), "a list"),
    "figures": ((dict,), "an object"),
}
#: optional keys (results written before provenance was recorded lack them)
OPTIONAL_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "provenance": ((dict,), "an object"), "not_finite": ((dict,), "an object"),
}
CLAIM_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "paper": ((str,), "a string"), "observed": ((str,), "a string"),
    "holds": ((bool, type(None)), "true, false or null"),
}


def differences_source() -> Path | None:
    """The page of departures from the authors' code in a source checkout, or None (an
    installed package has no docs folder)."""
    page = Path(__file__).resolve().parents[3] / DIFFERENCES_PAGE
    return page if page.is_file() else None


def differences_link(out_dir: str | Path | None = None) -> str:
    """Where a report links the page of departures from the authors' code: the copy
    :func:`write_report` puts beside it (a plain file name, so the folder can be moved or
    shared whole) when the page is at hand, else the page's path in the repository."""
    if out_dir is None or differences_source() is None:
        return DIFFERENCES_PAGE
    return Path(DIFFERENCES_PAGE).name


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


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False  # JSON true is not an integer here
    return isinstance(value, types)


def check_result(doc: Any, where: str | Path) -> None:
    """Raise StoreError naming the first key of ``doc`` that is missing or of the wrong
    type for a result document."""
    def fail(what: str) -> None:
        raise StoreError(f"{where}: not a valid result file: {what}")

    if not isinstance(doc, dict):
        fail(f"the document is {type(doc).__name__}, not an object")
    for key, (types, name) in {**RESULT_KEYS, **OPTIONAL_KEYS}.items():
        if key not in doc:
            if key in RESULT_KEYS:
                fail(f"key {key!r} is missing")
        elif not _type_ok(doc[key], types):
            fail(f"{key!r} should be {name}, not {type(doc[key]).__name__}")
    for i, claim in enumerate(doc["claims"]):
        if not isinstance(claim, dict):
            fail(f"claims[{i}] should be an object, not {type(claim).__name__}")
        for key, (types, name) in CLAIM_KEYS.items():
            if key not in claim:
                fail(f"claims[{i}] has no {key!r}")
            if not _type_ok(claim[key], types):
                fail(f"claims[{i}].{key} should be {name}, not {type(claim[key]).__name__}")
        if not isinstance(claim.get("criterion", ""), str):
            fail(f"claims[{i}].criterion should be a string")
    if not all(isinstance(x, str) for x in doc["deviations"]):
        fail("'deviations' should be a list of strings")
    for name, files in doc["figures"].items():
        if not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
            fail(f"figures[{name!r}] should be a list of file names")
    for key in ("provenance", "not_finite"):
        if not all(isinstance(v, str) for v in doc.get(key, {}).values()):
            fail(f"the values of {key!r} should be strings")


def load_results(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The result documents (with their directory under "_dir"), checked against the result
    schema and sorted by experiment. Raises StoreError (one line) for a damaged file."""
    docs = []
    for f in find_results(paths):
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise StoreError(f"{f}: damaged result file (not UTF-8 JSON)") from None
        check_result(doc, f)
        doc["_dir"] = str(f.parent)
        docs.append(doc)
    return sorted(docs, key=lambda d: (d["number"], d["name"], d["scale"]))


def figure_file(result_dir: str | Path, name: str) -> Path | None:
    """The file ``name`` of a result's figure if it lies inside ``result_dir`` (after
    resolving links) and exists; else None, with a warning."""
    root = Path(result_dir).resolve()
    path = (root / name).resolve()
    if Path(name).is_absolute() or not path.is_relative_to(root):
        log.warning("skipped figure %r of %s: outside the result folder", name, result_dir)
        return None
    if not path.is_file():
        log.warning("skipped figure %r of %s: no such file", name, result_dir)
        return None
    return path


def _images(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for name, files in doc["figures"].items():
        png = next((f for f in files if f.lower().endswith(".png")), None)
        path = figure_file(doc["_dir"], png) if png else None
        if path is not None:
            data = base64.b64encode(path.read_bytes()).decode()
            out.append({"name": name, "src": f"data:image/png;base64,{data}"})
    return out


def _provenance_rows(prov: Mapping[str, str], keys: Sequence[str] = PROVENANCE_KEYS
                     ) -> list[tuple[str, str]]:
    keys = list(keys) + [k for k in prov if k not in keys]
    return [(k.replace("_", " "), prov.get(k, NOT_RECORDED)) for k in keys]


def _view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What the templates show of one result document."""
    prov = doc.get("provenance", {})
    claims = [{**c, "verdict": verdict_text(c["holds"]),
               "verdict_class": {True: "holds", False: "fails", None: "undecided"}[c["holds"]]}
              for c in doc["claims"]]
    line = ", ".join(f"{k}: {v}" for k, v in _provenance_rows(prov)) if prov else NOT_RECORDED
    return {**doc, "claims": claims, "runs": runs_text(doc["n_runs"]),
            "number_rows": number_rows(doc["numbers"], doc.get("not_finite")),
            "provenance": _provenance_rows(prov), "provenance_line": line}


def _markdown_cell(text: Any) -> str:
    """A value safe inside a Markdown table cell: no pipes, newlines or HTML tags (a ``<``
    that could open one is written as ``&lt;``)."""
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", str(text)).replace("|", "/").replace("\n", " ")


def _environment(autoescape: bool) -> Environment:
    env = Environment(loader=PackageLoader("circle_survival", "templates"),
                      autoescape=autoescape, undefined=StrictUndefined,
                      keep_trailing_newline=True)
    env.filters["md"] = _markdown_cell
    return env


def _context(docs: Sequence[Mapping[str, Any]], title: str, link: str, images: bool = False
             ) -> dict[str, Any]:
    report_prov = provenance()
    del report_prov["device"], report_prov["dtype"]  # the report itself trains nothing
    views = [{**_view(d), "images": _images(d) if images else []} for d in docs]
    return {"docs": views, "title": title, "link": link,
            "differences_page": DIFFERENCES_PAGE,
            "report_provenance": _provenance_rows(report_prov, list(report_prov)),
            "report_date": report_prov["date"], "report_command": report_prov["command"]}


def render_html(docs: Sequence[Mapping[str, Any]], title: str = TITLE,
                link: str = DIFFERENCES_PAGE) -> str:
    """The page: the report's provenance, a claims table over all experiments, then each
    experiment's section (departures, figures, numbers, provenance). Every value is
    escaped."""
    return _environment(True).get_template("report.html.j2").render(
        _context(docs, title, link, images=True))


def render_markdown(docs: Sequence[Mapping[str, Any]], link: str = DIFFERENCES_PAGE) -> str:
    """A terminal-friendly summary: the claims table, the key numbers and provenance."""
    return _environment(False).get_template("report.md.j2").render(
        _context(docs, TITLE, link))


def write_report(paths: Iterable[str | Path], out: str | Path) -> tuple[Path, Path]:
    """Write OUT (HTML, self-contained: figures embedded) and OUT with suffix .md, with the
    page of departures from the authors' code beside them; return the two paths. Nothing in
    either links outside their folder. Every input is read and checked, and both documents
    rendered, before anything (the output folder included) is created."""
    docs = load_results(paths)
    out = Path(out)
    if out.is_dir():
        raise StoreError(f"{out}: is a directory (give the HTML file to write)")
    link = differences_link(out.parent)
    page, summary = render_html(docs, link=link), render_markdown(docs, link=link)
    out.parent.mkdir(parents=True, exist_ok=True)
    md = out.with_suffix(".md")
    files = [(out, page), (md, summary)]
    if (source := differences_source()) is not None:  # beside the report: it travels with it
        files.append((out.parent / link, source.read_text(encoding="utf-8")))
    for path, text in files:  # each checked: never written through a link
        path = safe_path(path.parent, path.name)
        tmp = safe_path(path.parent, path.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return out, md
