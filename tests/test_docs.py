"""The README, the tutorial and the folder READMEs: excerpts, commands, links."""

import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SHARED
from tests.doc_session import (
    COMPOSE,
    Session,
    compose_internal_bootstrap,
    copy_repository,
)
from tests.markdown import documents, excerpts, source_of, steps

EXCERPTS = [excerpt for path in documents() for excerpt in excerpts(path)]
STEPS = [step for path in documents() for step in steps(path)]
CHAPTER_FOLDERS = ["server", "docker-compose.yml", "recorder", "spec_from_stream"]


@pytest.mark.parametrize(
    "excerpt", EXCERPTS, ids=[f"{e.document}:{e.line}:{e.name}" for e in EXCERPTS]
)
def test_excerpt_matches_its_file(excerpt):
    source = source_of(excerpt.path, excerpt.name)
    if excerpt.kind == "yaml" and excerpt.path.endswith((".yml", ".yaml")):
        shown = yaml.safe_load(excerpt.code)
        actual = yaml.safe_load(source)
        last = excerpt.name.rpartition(".")[2]
        assert shown in (actual, {last: actual})
    else:
        assert excerpt.code.rstrip() == source.rstrip()


def test_the_tutorial_has_excerpts_of_every_component():
    shown = {excerpt.path.split("/")[0] for excerpt in EXCERPTS}
    assert {"server", "recorder", "spec_from_stream", "docker-compose.yml"} <= shown


def test_excerpt_drift_is_detected(tmp_path):
    # the check above must be able to fail: a changed line is a mismatch
    excerpt = next(e for e in EXCERPTS if e.path.endswith(".py"))
    assert excerpt.code.rstrip() == source_of(excerpt.path, excerpt.name).rstrip()
    drifted = excerpt.code.replace("def ", "def  ", 1)
    assert drifted.rstrip() != source_of(excerpt.path, excerpt.name).rstrip()


@pytest.mark.parametrize("step", STEPS, ids=[f"{s.document}:{s.line}" for s in STEPS])
def test_every_documented_command_can_be_run_by_the_session(step, tmp_path):
    session = Session(tmp_path, "127.0.0.1:9", tmp_path / ".venv")
    assert session.handler_for(step.command), f"no way to run `{step.command}`"


def test_docker_lines_name_real_services_and_published_ports():
    services = COMPOSE["services"]
    published = {
        # HOST_IP:HOST_PORT:CONTAINER_PORT
        port.split(":")[-2]
        for service in services.values()
        for port in service.get("ports", [])
    }
    for step in STEPS:
        for port in re.findall(r"localhost:(\d+)", step.command):
            assert port in published, f"{step.document}:{step.line}: {port}"
        if not step.command.startswith("docker compose"):
            continue
        words = shlex.split(step.command)[2:]
        if words[0] in ("up", "logs", "exec", "stop"):
            for word in words[1:]:
                if word.startswith("-"):
                    continue
                assert word in services, f"{step.document}:{step.line}: {word}"
                if words[0] == "exec":
                    break
        if "--bootstrap-server" in words:
            address = words[words.index("--bootstrap-server") + 1]
            assert address == compose_internal_bootstrap()


def test_tutorial_has_one_chapter_per_component():
    text = (ROOT / "tutorial.md").read_text()
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[0] == "Introduction" and headings[-1] == "Conclusion"
    chapters = headings[1:-1]
    assert len(chapters) == len(CHAPTER_FOLDERS)
    sections = re.split(r"^## .+$", text, flags=re.MULTILINE)[2:-1]
    for folder, section in zip(CHAPTER_FOLDERS, sections, strict=True):
        assert f"`{folder}" in section, f"chapter without {folder}"


def test_every_folder_readme_links_its_chapter():
    anchors = {
        "-".join(re.sub(r"[^\w\s-]", "", heading.lower()).split())
        for heading in re.findall(
            r"^#+ (.+)$", (ROOT / "tutorial.md").read_text(), re.MULTILINE
        )
    }
    for folder in ("server", "recorder", "spec_from_stream", "kafka"):
        text = (ROOT / folder / "README.md").read_text()
        links = re.findall(r"\.\./tutorial\.md#([\w-]+)", text)
        assert links, f"{folder}/README.md does not link the tutorial"
        assert set(links) <= anchors, f"{folder}/README.md: broken anchor {links}"


def test_relative_links_point_at_files():
    for path in documents():
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text()):
            assert (path.parent / target).exists(), f"{path.name}: {target}"


@pytest.fixture
def workdir(tmp_path) -> Path:
    # a checkout of its own per document: one reader's spec/ and its saved
    # state must not carry over into the next document's steps; laid out
    # like a checkout, with the shared material beside it, as ../shared
    (tmp_path / "shared").symlink_to(SHARED)
    return copy_repository(tmp_path / "main")


@pytest.mark.slow
@pytest.mark.parametrize("document", [str(p.relative_to(ROOT)) for p in documents()])
def test_document_commands_run_on_the_native_stack(document, workdir, kafka_bootstrap):
    venv = Path(sys.prefix)
    session = Session(workdir, kafka_bootstrap, venv)
    try:
        for step in steps(ROOT / document):
            session.run(step)
    finally:
        session.close()
