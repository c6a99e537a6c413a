"""MkDocs hook: the CLI reference page, generated from the `keras-hem` argument parser.

`docs/cli.md` holds the marker `<!-- cli-reference -->`; at build time it is replaced by each
command's `--help` text and a table of its options, both read from `keras_hem.cli`'s parser,
so the page cannot drift from the command. `tests/test_cli_reference.py` checks that the
page's help texts equal what `keras-hem <command> --help` prints.
"""

from __future__ import annotations

import argparse

MARKER = "<!-- cli-reference -->"
WIDTH = 80  # characters of the help texts (argparse's width at COLUMNS=82)


def parsers() -> dict[str, argparse.ArgumentParser]:
    """`{"keras-hem": parser, "keras-hem fit": parser, ...}`, the main command first."""
    from keras_hem.cli import _parser

    main = _parser()
    found = {"keras-hem": main}
    for action in main._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[f"keras-hem {name}"] = sub
    for parser in found.values():
        parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=WIDTH)
    return found


def help_texts() -> dict[str, str]:
    """Each command's `--help` output, at `WIDTH` characters."""
    return {name: parser.format_help() for name, parser in parsers().items()}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| option | default | description |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        flags = ", ".join(f"`{flag}`" for flag in action.option_strings) or f"`{action.dest}`"
        if action.choices and not isinstance(action.choices, dict):
            flags += " " + " \\| ".join(f"`{choice}`" for choice in action.choices)
        no_default = action.default in (None, False) or action.default == argparse.SUPPRESS
        default = "required" if action.required else ("" if no_default else f"`{action.default}`")
        rows.append(f"| {flags} | {default} | {_cell(action.help or '')} |")
    return rows


def reference_markdown() -> str:
    """The generated part of the CLI reference page."""
    lines = []
    for name, parser in parsers().items():
        lines += [f"## `{name}`", "", _cell(parser.description or "")]
        lines += ["", "```text", parser.format_help().rstrip("\n"), "```", ""]
        lines += _options_table(parser) + [""]
    return "\n".join(lines)


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 - MkDocs' signature
    """Replaces the marker with the generated reference."""
    return markdown.replace(MARKER, reference_markdown()) if MARKER in markdown else markdown
