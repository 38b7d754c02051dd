"""Reading the project's Markdown: shell commands, their shown output, excerpts."""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import ROOT

SHELL = {"sh", "shell", "bash", "console"}
OUTPUT = {"text", "json", "yaml", "http"}
# <!-- excerpt: recorder/flask.py init_app --> right before a code block
EXCERPT = re.compile(r"<!--\s*excerpt:\s*(\S+)\s+(\S+)\s*-->")
# a fenced block, also indented inside a list item
FENCE = re.compile(
    r"^([ \t]*)```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL
)


@dataclass
class Step:
    """One shell command of a document, with the output shown after its block."""

    document: str
    line: int
    command: str
    output: str | None = None
    output_kind: str | None = None


@dataclass
class Excerpt:
    """A code block that claims to show part of a file."""

    document: str
    line: int
    path: str
    name: str
    code: str
    kind: str = field(default="")


def documents() -> list[Path]:
    """Every Markdown file of the project whose commands must be tested."""
    found = [ROOT / "README.md", ROOT / "tutorial.md"]
    found += sorted(
        path
        for path in ROOT.glob("*/**/README.md")
        if not {".venv", ".cache", "lib", ".pytest_cache"} & set(path.parts)
    )
    return [path for path in found if path.is_file()]


def _blocks(text: str):
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        indent, kind, body = match.groups()
        lines = [line[len(indent) :] for line in body.splitlines(keepends=True)]
        yield match, line, kind.lower(), "".join(lines)


def steps(path: Path) -> list[Step]:
    """Return the commands of a document in order, each with its shown output."""
    text = path.read_text()
    name = str(path.relative_to(ROOT))
    found: list[Step] = []
    last_block_end = -1
    for match, line, kind, body in _blocks(text):
        between = text[last_block_end : match.start()]
        if kind in SHELL:
            for offset, command in _commands(body):
                found.append(Step(name, line + 1 + offset, command))
        elif (
            kind in OUTPUT
            and found
            and found[-1].output is None
            and not between.strip()
        ):
            # an output block right after a command block shows its output
            found[-1].output = body
            found[-1].output_kind = kind
        last_block_end = match.end()
    return found


def _commands(body: str):
    """Split a shell block into commands: continuation lines joined, comments off."""
    pending, start = "", 0
    for offset, raw in enumerate(body.splitlines()):
        line = raw.rstrip()
        if raw.lstrip().startswith("$ "):
            line = raw.lstrip()[2:]
        if not pending:
            start = offset
            if not line.strip() or line.lstrip().startswith("#"):
                continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        # a trailing "  # note" explains the command; it is not part of it
        yield start, re.sub(r"\s+#\s.*$", "", pending + line).strip()
        pending = ""


def excerpts(path: Path) -> list[Excerpt]:
    """Return the code blocks marked as excerpts of real files."""
    text = path.read_text()
    name = str(path.relative_to(ROOT))
    found = []
    for match, line, kind, body in _blocks(text):
        before = text[: match.start()].rstrip().splitlines()
        marker = EXCERPT.fullmatch(before[-1].strip()) if before else None
        if marker:
            found.append(Excerpt(name, line, *marker.groups(), body, kind))
    return found


def source_of(path: str, name: str) -> str:
    """Return what an excerpt marker names: a Python function or class, or a
    YAML mapping (dotted keys), or a region between `# region: NAME` and
    `# endregion` comments."""
    file = ROOT / path
    text = file.read_text()
    region = re.search(
        rf"^[ \t]*# region: {re.escape(name)}\n(.*?)^[ \t]*# endregion",
        text,
        re.MULTILINE | re.DOTALL,
    )
    if region:
        return textwrap.dedent(region.group(1))
    if file.suffix == ".py":
        tree = ast.parse(text)
        for node in ast.walk(tree):
            named = isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
            )
            if named and node.name == name:
                start = node.lineno
                if node.decorator_list:
                    start = node.decorator_list[0].lineno
                lines = text.splitlines()[start - 1 : node.end_lineno]
                return textwrap.dedent("\n".join(lines)) + "\n"
        raise LookupError(f"{path} has no function or class {name}")
    if file.suffix in (".yml", ".yaml"):
        value = yaml.safe_load(text)
        for key in name.split("."):
            value = value[key]
        return yaml.safe_dump(value, sort_keys=False)
    raise LookupError(f"{path} has no region {name}")
