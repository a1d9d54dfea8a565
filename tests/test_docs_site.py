"""The docs site as a reader sees it: build it strictly, then check the HTML of every page.

`site_problems` reads a built site and lists what a reader would see broken: an example
section without a code block, doctest prompts taken for Markdown quote markers (`>>>` eaten
into nested blockquotes, or left as prose), unhighlighted doctests, Sphinx roles printed as
text, raw LaTeX, missing images, internal links to missing pages or anchors, and assets
fetched from the network (the site must read offline). The unit tests below feed it small
hand-written pages, one per kind of problem; the slow test builds the real site.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup, Tag

ROOT = Path(__file__).resolve().parents[1]
_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|exc|data|obj|const|ref|doc):`?")
_CODE_TAGS = ("pre", "code", "math", "script", "style")
# Elements that end an "Examples:" section of a mkdocstrings page.
_SECTION_END = ("details", "table", "h1", "h2", "h3", "h4", "h5", "h6")


def _in_code(node: Tag) -> bool:
    return any(parent.name in _CODE_TAGS for parent in node.parents)


def _example_sections(soup: BeautifulSoup) -> list[tuple[str, list[Tag]]]:
    """Every example section of a page: its label and the elements it holds."""
    sections: list[tuple[str, list[Tag]]] = []
    # mkdocstrings renders a Google "Examples:" section as a title paragraph, then its parts.
    for title in soup.select("span.doc-section-title"):
        if not title.get_text(strip=True).lower().startswith("example"):
            continue
        para = title.find_parent("p")
        start = para if para is not None else title
        body: list[Tag] = []
        for sibling in start.find_next_siblings():
            if sibling.name in _SECTION_END or sibling.select_one("span.doc-section-title"):
                break
            if "doc" in (sibling.get("class") or []):
                break  # the next documented object
            body.append(sibling)
        sections.append((title.get_text(strip=True), body))
    # An "Example" admonition (`!!! example`, or griffe's rendering of a section it does
    # not parse as code, such as the singular "Example:").
    for box in soup.select("details.example, div.admonition.example"):
        sections.append(("Example admonition", [box]))
    return sections


def page_problems(html: str, page: Path, site: Path) -> list[str]:
    """List what a reader would see broken on one built page.

    Args:
        html: the page's HTML.
        page: the page's path, for links relative to it.
        site: the site's root folder.

    Returns:
        One line per problem, each naming the page.
    """
    soup = BeautifulSoup(html, "html.parser")
    name = page.relative_to(site).as_posix()
    problems: list[str] = []

    for label, body in _example_sections(soup):
        if not any(part.name == "pre" or part.select_one("pre") for part in body):
            problems.append(f"{name}: example section {label!r} holds no code block")

    for quote in soup.select("blockquote blockquote"):
        text = quote.get_text(" ", strip=True)[:60]
        problems.append(f"{name}: nested blockquote (doctest prompts read as quotes?): {text!r}")
    for text in soup.find_all(string=re.compile(">>>")):
        if not _in_code(text):
            problems.append(f"{name}: '>>>' outside a code block: {text.strip()[:60]!r}")
    for block in soup.select("pre"):
        if ">>> " in block.get_text() and not block.select("span.gp"):
            problems.append(f"{name}: doctest block without prompt highlighting")

    for text in soup.find_all(string=_ROLE):
        if not _in_code(text):
            problems.append(f"{name}: Sphinx role printed as text: {text.strip()[:60]!r}")
    for leftover in soup.select(".arithmatex"):
        problems.append(f"{name}: unrendered math: {leftover.get_text()[:60]!r}")
    for math in soup.select("math"):
        if "\\" in math.get_text():
            problems.append(f"{name}: LaTeX command left in MathML: {math.get_text()[:60]!r}")

    ids = {tag["id"] for tag in soup.select("[id]")}
    for tag, attr in (("img", "src"), ("script", "src"), ("link", "href"), ("a", "href")):
        for element in soup.select(f"{tag}[{attr}]"):
            problems.extend(_link_problems(name, tag, str(element[attr]), page, site, ids))
    return problems


_anchor_cache: dict[Path, set[str]] = {}


def _anchors(target: Path) -> set[str]:
    if target not in _anchor_cache:
        soup = BeautifulSoup(target.read_text(encoding="utf-8"), "html.parser")
        _anchor_cache[target] = {str(tag["id"]) for tag in soup.select("[id]")}
    return _anchor_cache[target]


def _link_problems(
    name: str, tag: str, url: str, page: Path, site: Path, ids: set[str]
) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme in ("mailto", "data", "javascript"):
        return []
    if parts.scheme or parts.netloc:
        if tag == "a":
            return []  # a link out is fine; an asset fetched from the network is not
        return [f"{name}: <{tag}> loads {url} from the network"]
    if not parts.path:
        if parts.fragment and unquote(parts.fragment) not in ids:
            return [f"{name}: link to missing anchor #{parts.fragment}"]
        return []
    # A root-relative path (the 404 page's) is relative to the site's root on a server.
    base = site if parts.path.startswith("/") else page.parent
    target = (base / unquote(parts.path).lstrip("/")).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file() or site.resolve() not in target.parents:
        return [f"{name}: <{tag}> {url} points to no file of the site"]
    if parts.fragment and target.suffix == ".html":
        if unquote(parts.fragment) not in _anchors(target):
            return [f"{name}: link {url} to a missing anchor"]
    return []


def site_problems(site: Path) -> list[str]:
    """List the problems of every page of a built site (see `page_problems`)."""
    problems: list[str] = []
    for page in sorted(site.rglob("*.html")):
        problems.extend(page_problems(page.read_text(encoding="utf-8"), page, site))
    return problems


def _problems_of(body: str, tmp_path: Path, **files: str) -> list[str]:
    for file_name, content in files.items():
        (tmp_path / file_name).write_text(content, encoding="utf-8")
    page = tmp_path / "page.html"
    page.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")
    return page_problems(page.read_text(encoding="utf-8"), page, tmp_path)


_GOOD_EXAMPLE = (
    '<div class="doc doc-contents"><p><span class="doc-section-title">Examples:</span></p>'
    '<div class="highlight"><pre><span></span><code><span class="gp">&gt;&gt;&gt; </span>'
    "<span>1 + 1</span>\n2</code></pre></div></div>"
)


def test_a_highlighted_example_section_passes(tmp_path: Path) -> None:
    assert _problems_of(_GOOD_EXAMPLE, tmp_path) == []


def test_the_old_sites_quoted_example_is_caught(tmp_path: Path) -> None:
    # What mkdocstrings made of a docstring's "Example:" section before 0.2.0.
    old = (
        '<details class="example" open><summary>Example</summary><blockquote><blockquote>'
        "<blockquote><p>net = lambda y: y\nnet(1)\n1</p></blockquote></blockquote></blockquote>"
        "</details>"
    )
    problems = _problems_of(old, tmp_path)
    assert any("holds no code block" in p for p in problems)
    assert any("nested blockquote" in p for p in problems)


def test_an_examples_title_followed_by_prose_only_is_caught(tmp_path: Path) -> None:
    body = (
        '<div><p><span class="doc-section-title">Examples:</span></p><p>&gt;&gt;&gt; 1 + 1</p>'
        '<p><span class="doc-section-title">Returns:</span></p><div class="highlight"><pre>'
        "<code>x</code></pre></div></div>"
    )
    problems = _problems_of(body, tmp_path)
    assert any("'Examples:' holds no code block" in p for p in problems)
    assert any("'>>>' outside a code block" in p for p in problems)


def test_an_unhighlighted_doctest_is_caught(tmp_path: Path) -> None:
    problems = _problems_of("<pre><code>&gt;&gt;&gt; 1 + 1\n2</code></pre>", tmp_path)
    assert problems == ["page.html: doctest block without prompt highlighting"]


def test_sphinx_roles_and_raw_math_are_caught(tmp_path: Path) -> None:
    body = (
        "<p>see :meth:<code>forward_seeds</code></p>"
        '<p><span class="arithmatex">\\(x^2\\)</span></p>'
        "<p><math><mi>\\|</mi></math></p>"
    )
    problems = _problems_of(body, tmp_path)
    assert len(problems) == 3
    assert "Sphinx role" in problems[0]
    assert "unrendered math" in problems[1]
    assert "LaTeX command" in problems[2]


def test_the_roles_hook_shows_the_code_a_role_names() -> None:
    import runpy

    hook = runpy.run_path(str(ROOT / "docs" / "hooks" / "sphinx_roles.py"))
    html = hook["strip_roles"](
        "<p>:meth:<code>forward_seeds</code> and :func:<code>~stochrobust.metrics.w2</code></p>"
    )
    assert html == "<p><code>forward_seeds</code> and <code>w2</code></p>"


def test_links_images_and_network_assets_are_checked(tmp_path: Path) -> None:
    body = (
        '<h2 id="here">t</h2><a href="#here">ok</a><a href="#gone">x</a>'
        '<a href="other.html#there">ok</a><a href="other.html#nowhere">x</a>'
        '<a href="missing.html">x</a><img src="img/none.png"><img src="pic.png">'
        '<a href="https://example.org/">ok</a>'
        '<link rel="stylesheet" href="https://fonts.example.org/css">'
    )
    problems = _problems_of(body, tmp_path, **{"other.html": '<p id="there"></p>', "pic.png": ""})
    assert problems == [
        "page.html: <img> img/none.png points to no file of the site",
        "page.html: <link> loads https://fonts.example.org/css from the network",
        "page.html: link to missing anchor #gone",
        "page.html: link other.html#nowhere to a missing anchor",
        "page.html: <a> missing.html points to no file of the site",
    ]


def test_the_math_hook_renders_mathml_and_rejects_what_it_cannot_render() -> None:
    import runpy

    hook = runpy.run_path(str(ROOT / "docs" / "hooks" / "mathml.py"))
    html = hook["render_math"](
        '<p><span class="arithmatex">\\(a &lt; b_2\\)</span></p>'
        '<div class="arithmatex">\\[\\lVert x \\rVert\\]</div>'
    )
    assert "arithmatex" not in html
    assert html.count("<math") == 2 and 'display="block"' in html
    assert "<mi>a</mi><mo>&#x0003C;</mo><msub><mi>b</mi><mn>2</mn></msub>" in html
    with pytest.raises(ValueError, match="unsupported LaTeX"):
        hook["render_math"]('<span class="arithmatex">\\(\\bigl\\| x\\)</span>')


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return site


@pytest.mark.slow
def test_every_page_of_the_built_site_reads_right(built_site: Path) -> None:
    assert site_problems(built_site) == []


@pytest.mark.slow
def test_the_site_has_every_example_as_code_and_the_guide_math_as_mathml(
    built_site: Path,
) -> None:
    api = BeautifulSoup((built_site / "api.html").read_text(encoding="utf-8"), "html.parser")
    sections = _example_sections(api)
    # Every docstring example section reached the API page (one per "Examples:" in the code).
    in_sources = sum(
        len(re.findall(r"^\s*Examples:\s*$", path.read_text(encoding="utf-8"), re.MULTILINE))
        for path in (ROOT / "stochrobust").rglob("*.py")
    )
    assert len(sections) >= 100
    assert len(sections) <= in_sources
    for page in ("sensitivity.html", "smoothing.html"):
        soup = BeautifulSoup((built_site / page).read_text(encoding="utf-8"), "html.parser")
        assert len(soup.select("math")) >= 5, page
