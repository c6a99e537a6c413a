"""MkDocs hook: link each code span that names a documented class to its API entry.

A code span holding just a documented name (`` `TripletLoss` ``) or a full path
(`` `keras_hem.losses.TripletLoss` ``) becomes an autorefs link (`` [`TripletLoss`][id] ``),
so the guides, the concepts map and the home page link to the API reference without
hand-written links that could go stale. The names are the `:::` entries of `docs/api/*.md`:
short names for classes (when unambiguous), full paths for everything, and the methods and
properties a class declares itself (`` `Recommender.recommend` ``, also with `()`). Code
blocks, headings, existing links and the API pages themselves are left alone.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

ENTRY = re.compile(r"^::: (keras_hem(?:\.\w+)+)\s*$", re.M)
SPAN = re.compile(r"(?<![\[\w`])`([A-Za-z_][\w.]*)(\(\))?`(?![\]\(`])")
FENCE = re.compile(r"^\s*(```|~~~)")


def api_names(api_dir: str | Path) -> dict[str, str]:
    """`{name: identifier}` for every `:::` entry of the API pages in `api_dir`."""
    identifiers = sorted(
        {
            m.group(1)
            for page in Path(api_dir).glob("*.md")
            for m in ENTRY.finditer(page.read_text())
        }
    )
    names = {identifier: identifier for identifier in identifiers}
    short: dict[str, list[str]] = {}
    for identifier in identifiers:
        module, last = identifier.rsplit(".", 1)
        if inspect.isclass(_resolve(module, last)):
            short.setdefault(last, []).append(identifier)
    names.update({name: ids[0] for name, ids in short.items() if len(ids) == 1})
    for name, identifier in list(names.items()):
        module, last = identifier.rsplit(".", 1)
        cls = _resolve(module, last)
        if inspect.isclass(cls):
            for member in _own_members(cls):
                names[f"{name}.{member}"] = f"{identifier}.{member}"
    return names


def _own_members(cls: type) -> list[str]:
    """Documented public methods and properties that `cls` declares itself.

    Those are what the API page shows (mkdocstrings skips members without a docstring).
    """
    members = []
    for member, value in vars(cls).items():
        function = getattr(value, "__func__", None) or getattr(value, "fget", None) or value
        if not member.startswith("_") and inspect.isfunction(function) and function.__doc__:
            members.append(member)
    return members


def _resolve(module: str, name: str):
    """The object `module.name`, or `None` (a module itself, or not importable)."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def link_code_spans(markdown: str, names: dict[str, str]) -> str:
    """`markdown` with each code span naming an entry of `names` turned into a link."""
    lines, in_fence = [], False
    for line in markdown.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and not line.startswith(("#", "    ", "\t", "::: ", "--8<--")):
            line = SPAN.sub(lambda m: _link(m, names), line)
        lines.append(line)
    return "\n".join(lines)


def _link(match: re.Match, names: dict[str, str]) -> str:
    name, call = match.group(1), match.group(2) or ""
    return f"[`{name}{call}`][{names[name]}]" if name in names else match.group(0)


# The names of the build in progress: read once per build, not once per page.
_NAMES: dict[str, str] = {}


def on_config(config):
    """Collects the documented names before the pages are rendered."""
    _NAMES.clear()
    _NAMES.update(api_names(Path(config["docs_dir"]) / "api"))
    return config


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 - MkDocs' signature
    """Links the code spans of every page outside the API reference."""
    if page.file.src_uri.startswith("api/"):
        return markdown
    return link_code_spans(markdown, _NAMES)
