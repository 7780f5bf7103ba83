"""Every command line of the README names a real command and only options it has."""

import re
import shlex
from pathlib import Path

import pytest
from cli_runner import run_cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
GROUPS = ("sweep",)


def code_blocks(text: str) -> list[str]:
    """The text of every fenced code block (a fence opens and the next one closes)."""
    blocks, current = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def readme_commands() -> list[str]:
    """The ``circle-survival ...`` command lines of the README's code blocks and tables."""
    lines = []
    for block in code_blocks(README):
        block = block.replace("\\\n", " ")  # a command continued over lines is one line
        lines += [ln.split("#")[0].strip() for ln in block.splitlines()]
    lines += re.findall(r"`(circle-survival [^`]+)`", README)
    out = []
    for ln in lines:
        ln = ln.split(">")[0].strip()
        if "..." in ln or "…" in ln:
            continue  # prose: a command abbreviated
        if ln.startswith("circle-survival ") or " circle-survival " in ln:
            out.append(ln[ln.index("circle-survival"):])
    return sorted(set(out))


@pytest.mark.parametrize("line", readme_commands())
def test_readme_command_is_valid(line, capsys):
    words = shlex.split(line)[1:]
    path = words[:2] if words[0] in GROUPS else words[:1]
    if path[0].startswith("-"):  # circle-survival --version / --install-completion
        path = []
    code, help_text, err = run_cli([*path, "--help"], capsys)
    assert code == 0, f"{line}: {err}"
    for w in words[len(path):]:
        if w.startswith("-"):
            assert re.search(rf"(^|[\s,]){re.escape(w.split('=')[0])}([\s,/]|$)", help_text,
                             re.M), f"{line}: {w} is not an option of {' '.join(path)}"


def test_the_readme_has_an_example_of_every_command():
    commands = {" ".join(shlex.split(c)[1:3 if shlex.split(c)[1] in GROUPS else 2])
                for c in readme_commands()}
    assert {"train", "show", "sweep plan", "sweep run", "sweep status", "reproduce", "report",
            "analyze", "plot", "gradient", "collaboration", "ode", "ode-r2",
            "ablate"} <= commands


def test_code_blocks_pair_their_fences():
    text = "a\n```bash\nx\n```\nprose `y`\n```\nz \\\n  w\n```\n"
    assert code_blocks(text) == ["x", "z \\\n  w"]
