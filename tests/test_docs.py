"""The documentation holds together: a short README, links and anchors that resolve, pages that say
who they are for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
# Pages another step writes (`pixseek config docs > docs/configuration.md`): linked before they
# exist, and checked like any other page once they do.
GENERATED = {"docs/configuration.md"}

README_MAX_LINES = 170
INSTALL_AND_RUN = 'pip install -e . && pixseek ingest ~/Pictures && pixseek search "a dog on a beach"'
TEST_COMMAND = "python -m pytest"

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# `[text](target)` and `![alt](target)`, with an optional "title" after the target.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
AUDIENCE = re.compile(r"^([*_])For \S.*\1$")


def _prose_lines(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        lines.append("" if fenced else CODE_SPAN.sub("", line))
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links render as their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file, numbered the way GitHub numbers repeated ones."""
    seen: dict[str, int] = {}
    anchors = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            slug = _slug(match.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(path: Path) -> list[str]:
    return [target for line in _prose_lines(path) for target in LINK.findall(line)]


def _relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def _broken_link(source: Path, target: str) -> str | None:
    """Why a relative link of `source` does not resolve, or None when it does (or is external)."""
    if EXTERNAL.match(target):
        return None
    file_part, _, anchor = target.partition("#")
    resolved = (source.parent / file_part).resolve() if file_part else source
    if not resolved.exists():
        try:
            name = _relative(resolved)
        except ValueError:
            return f"{target}: outside the repository"
        return None if name in GENERATED else f"{target}: no such file"
    if anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
        return f"{target}: no heading #{anchor} in {resolved.name}"
    return None


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; reference belongs in docs/"


def test_the_readme_shows_a_screenshot_that_exists() -> None:
    images = [target for line in _prose_lines(README) for target in IMAGE.findall(line)]
    shown = [target for target in images if not EXTERNAL.match(target) and (REPO_ROOT / target).is_file()]
    assert shown, f"no image of README.md exists in the repository: {images}"


def test_the_readme_gives_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert INSTALL_AND_RUN in text
    on_its_own_line = re.compile(rf"^{re.escape(TEST_COMMAND)}$", re.MULTILINE)
    assert on_its_own_line.search(text), f"`{TEST_COMMAND}` on a line of its own"


@pytest.mark.parametrize("page", [README, *PAGES], ids=_relative)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = [reason for target in _links(page) if (reason := _broken_link(page, target))]
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=_relative)
def test_every_docs_page_says_who_it_is_for(page: Path) -> None:
    lines = [line.strip() for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[0].startswith("# "), f"{_relative(page)} starts with its title"
    assert AUDIENCE.match(lines[1]), f"{_relative(page)}: under the title, '*For ...*', not {lines[1]!r}"


def test_the_link_check_sees_a_broken_link_and_anchor(tmp_path: Path) -> None:
    # The checks above pass on a tree with no links as well: prove they can fail.
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Who may call `what`, and why\n\n```\n# not a heading\n```\n"
        "[a](missing.md) [b](#who-may-call-what-and-why) [c](#not-a-heading) [d](https://example.com)\n"
        "`[e](in-code.md)`\n",
        encoding="utf-8",
    )
    assert _anchors(page) == {"title", "who-may-call-what-and-why"}
    assert _links(page) == [
        "missing.md",
        "#who-may-call-what-and-why",
        "#not-a-heading",
        "https://example.com",
    ]
    reasons = [_broken_link(page, target) for target in _links(page)]
    assert [reason is None for reason in reasons] == [False, True, False, True]
