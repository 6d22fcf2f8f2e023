"""Every relative link in README.md and docs/*.md points to a file that exists (the README's sections moved
to docs/: a link left behind would point nowhere)."""
import re

from conftest import REPO
import pytest

PAGES = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(page):
    """The targets of the page's Markdown links that are files of this repository (no URL, no bare #anchor),
    without their #anchor."""
    targets = (m.group(1) for m in LINK.finditer(page.read_text()))
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+:|#", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_to_a_file(page):
    missing = [t for t in relative_links(page) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(REPO)} links to files that do not exist: {missing}"


def test_the_check_sees_a_link_to_a_missing_file(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](docs/x.md#part) [b](https://example.org/y.md) [c](#top) [d](x.md)\n")
    assert relative_links(page) == ["docs/x.md", "x.md"]
