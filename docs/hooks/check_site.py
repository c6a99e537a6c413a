"""MkDocs hook: fail the build on a broken link or anchor, or a page that names a machine path.

After the site is built, every HTML page is read: each relative `href` / `src` must point to a
file of the site and each `#fragment` to an `id` on the target page; no page may contain a
path of the machine the docs were built on (the docs speak of `$KERAS_HEM_DATA` instead).
External links are not fetched (the build runs offline).
"""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Paths of a machine, never of the product: home folders, work folders, a sibling checkout.
MACHINE_PATH = re.compile(r"(?<![\w.~])(?:/(?:work|home|Users|root)/[\w.-]+|\.\./shared\b)")


class _Page(HTMLParser):
    """The ids, links and text of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and tag != "meta":
                self.ids.add(value)
            elif name in ("href", "src"):
                self.links.append(value)

    def handle_data(self, data):
        self.text.append(data)


def _read(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def check_site(site_dir: str | Path, base_path: str = "/") -> list[str]:
    """Problems of the built site in `site_dir`, as `"page: problem"` lines; `[]` if none.

    Args:
        site_dir: the folder MkDocs built.
        base_path: the path part of `site_url` (`"/keras-hem/"`), under which links that start
            with `/` are served.
    """
    site = Path(site_dir)
    pages = {path.relative_to(site).as_posix(): _read(path) for path in site.rglob("*.html")}
    problems = []
    for name, page in sorted(pages.items()):
        for match in sorted(set(MACHINE_PATH.findall(" ".join(page.text)))):
            problems.append(f"{name}: names a machine path {match!r}")
        for link in page.links:
            problem = _check_link(site, pages, name, link, base_path)
            if problem:
                problems.append(f"{name}: {problem}")
    return problems


def _check_link(site, pages, name, link, base_path):
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:", "javascript:")):
        return None  # external: not fetched offline
    path = unquote(parts.path)
    if path.startswith("/"):
        if not path.startswith(base_path):
            return f"link {link!r} is outside the site's base path {base_path!r}"
        target = path[len(base_path) :]
    elif path:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), path))
    else:
        target = name
    if target in ("", ".") or target.endswith("/") or (site / target).is_dir():
        target = posixpath.join(target.rstrip("/"), "index.html").lstrip("./") or "index.html"
    if target.startswith("../") or not (site / target).exists():
        return f"broken link {link!r}"
    fragment = unquote(parts.fragment)
    if fragment and target in pages and fragment not in pages[target].ids:
        return f"link {link!r}: no id {fragment!r} on {target}"
    return None


def on_post_build(config):
    """Raises `PluginError` listing every problem of the built site."""
    from mkdocs.exceptions import PluginError

    base_path = urlsplit(config.get("site_url") or "/").path or "/"
    problems = check_site(
        config["site_dir"], base_path if base_path.endswith("/") else base_path + "/"
    )
    if problems:
        raise PluginError("The built site has problems:\n  " + "\n  ".join(problems))
