"""The documentation's build hooks: the CLI reference and the built-site check."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from backend import backend_independent

from keras_hem.cli import main

HOOKS = Path(__file__).resolve().parents[1] / "docs" / "hooks"
# The docs site and the command's help text are the same on every backend.
pytestmark = backend_independent


def load_hook(name):
    spec = importlib.util.spec_from_file_location(name, HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cli_reference = load_hook("cli_reference")
check_site = load_hook("check_site")


def printed_help(argv, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(cli_reference.WIDTH + 2))  # argparse keeps 2 free
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["fit", "evaluate", "recommend"])
def test_reference_page_shows_what_help_prints(command, capsys, monkeypatch):
    texts = cli_reference.help_texts()
    assert texts[f"keras-hem {command}"] == printed_help([command], capsys, monkeypatch)
    assert f"```text\n{texts[f'keras-hem {command}'].rstrip()}\n```" in (
        cli_reference.reference_markdown()
    )


def test_reference_page_lists_every_command_and_flag():
    page = cli_reference.reference_markdown()
    parsers = cli_reference.parsers()
    assert set(parsers) == {
        "keras-hem",
        "keras-hem fit",
        "keras-hem evaluate",
        "keras-hem recommend",
    }
    for name, parser in parsers.items():
        assert f"## `{name}`" in page
        for action in parser._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}`" in page, (name, flag)


def test_installed_command_prints_the_same_main_help():
    env = {"COLUMNS": str(cli_reference.WIDTH + 2), "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-m", "keras_hem.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert out == cli_reference.help_texts()["keras-hem"]


def test_marker_is_replaced_and_other_pages_untouched():
    page = "# CLI\n\n<!-- cli-reference -->\n"
    built = cli_reference.on_page_markdown(page, None, None, None)
    assert cli_reference.MARKER not in built and "## `keras-hem fit`" in built
    assert cli_reference.on_page_markdown("# Other", None, None, None) == "# Other"


def write(site, name, body):
    path = site / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")


def test_site_check_passes_a_good_site(tmp_path):
    write(tmp_path, "index.html", '<a href="guide/#usage">guide</a><a href="https://x.org/a">x</a>')
    write(tmp_path, "guide/index.html", '<h2 id="usage">Usage</h2><a href="../">home</a>')
    write(tmp_path, "404.html", '<img src="/keras-hem/guide/">')
    assert check_site.check_site(tmp_path, "/keras-hem/") == []


@pytest.mark.parametrize(
    "body, problem",
    [
        ('<a href="missing/">x</a>', "broken link 'missing/'"),
        ('<a href="guide/#nowhere">x</a>', "no id 'nowhere' on guide/index.html"),
        ('<a href="#top">x</a>', "no id 'top' on index.html"),
        ('<script src="/assets/app.js"></script>', "outside the site's base path"),
        ("<p>Data: /work/data/u.data</p>", "machine path '/work/data"),
        ("<p>KERAS_HEM_DATA=../shared/data</p>", "machine path '../shared'"),
        ("<code>/home/me/ml-100k</code>", "machine path '/home/me"),
    ],
)
def test_site_check_reports_each_problem(tmp_path, body, problem):
    write(tmp_path, "guide/index.html", '<h2 id="usage">Usage</h2>')
    write(tmp_path, "index.html", body)
    problems = check_site.check_site(tmp_path, "/keras-hem/")
    assert len(problems) == 1 and problems[0].startswith("index.html: ")
    assert problem in problems[0]


REPO = Path(__file__).resolve().parents[1]
PUBLISHED = [
    "README.md",
    "CHANGELOG.md",
    "docs/**/*.md",
    "benchmarks/*.py",
    "benchmarks/results/*",
    "examples/*",
]


def test_no_published_file_names_a_machine_path():
    files = sorted({path for pattern in PUBLISHED for path in REPO.glob(pattern) if path.is_file()})
    assert len(files) > 30
    found = {
        path.relative_to(REPO).as_posix(): sorted(set(check_site.MACHINE_PATH.findall(text)))
        for path in files
        if path.suffix != ".png"
        for text in [path.read_text(encoding="utf-8")]
        if check_site.MACHINE_PATH.search(text)
    }
    assert found == {}


autolink = load_hook("autolink")


def test_api_names_cover_the_documented_classes():
    names = autolink.api_names(REPO / "docs" / "api")
    assert names["TripletLoss"] == "keras_hem.losses.TripletLoss"
    assert names["HEMAAE"] == "keras_hem.models.HEMAAE"
    assert names["keras_hem.evaluation.evaluate"] == "keras_hem.evaluation.evaluate"
    assert "SHAPES" not in names  # a constant: only its full path links
    assert "evaluate" not in names  # functions link by full path only


def test_code_spans_naming_classes_become_links():
    names = {"TripletLoss": "keras_hem.losses.TripletLoss"}
    page = "\n".join(
        [
            "Use `TripletLoss` or `TripletLoss(margin=1)`; `Unknown` stays.",
            "Already linked: [`TripletLoss`](api/losses.md).",
            "## A heading with `TripletLoss`",
            "```python",
            "loss = `TripletLoss`",
            "```",
            "    `TripletLoss` in an indented block",
        ]
    )
    lines = autolink.link_code_spans(page, names).split("\n")
    assert lines[0] == (
        "Use [`TripletLoss`][keras_hem.losses.TripletLoss] or `TripletLoss(margin=1)`; "
        "`Unknown` stays."
    )
    assert lines[1:] == page.split("\n")[1:]


def test_documented_methods_link_with_or_without_call_parentheses():
    names = autolink.api_names(REPO / "docs" / "api")
    assert names["Recommender.recommend"] == "keras_hem.recommender.Recommender.recommend"
    assert names["HEMAAE.from_preset"] == "keras_hem.models.HEMAAE.from_preset"
    assert "AdversarialAutoencoder.train_step" not in names  # no docstring: not on the page
    line = autolink.link_code_spans("Call `Recommender.recommend()`.", names)
    assert line == (
        "Call [`Recommender.recommend()`][keras_hem.recommender.Recommender.recommend]."
    )
