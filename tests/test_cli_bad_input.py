"""Malformed input through the real `keras-hem` command: one line, no traceback, nothing written.

Each case runs the command in a fresh process, as a user would, on a CSV file that hypothesis
builds from random ratings and one random defect.
"""

import os
import subprocess
import sys

import pytest
from backend import backend_independent
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = backend_independent

# The console script's name in argv[0] makes the package defer its Keras imports, as there.
COMMAND = "import sys; sys.argv[0] = 'keras-hem'; from keras_hem.cli import main; sys.exit(main())"

DEFECTS = (
    "missing_column",
    "non_numeric_rating",
    "zero_rating",
    "negative_rating",
    "nan_rating",
    "infinite_rating",
    "missing_id",
    "duplicate_pair",
    "header_only",
    "empty_file",
    "binary",
    "outside_declared_scale",
)

ratings = st.lists(
    st.tuples(
        st.integers(0, 50),
        st.one_of(st.integers(0, 50), st.text("abcxyz", min_size=1, max_size=4)),
        st.sampled_from(["1", "2.5", "3", "4", "5"]),
    ),
    min_size=1,
    max_size=12,
)


def malformed_csv(rows, defect, garbage, sep, factor=1.0):
    """CSV bytes of `rows` (ratings times `factor`: a random scale) with one `defect`."""
    header = ["user", "item", "rating"]
    lines = [[str(u), str(i), f"{float(r) * factor:g}"] for u, i, r in rows]
    if defect == "missing_column":
        header, lines = header[:2], [line[:2] for line in lines]
    elif defect in ("non_numeric_rating", "zero_rating", "negative_rating", "nan_rating"):
        lines[0][2] = {
            "non_numeric_rating": "five",
            "zero_rating": "0",
            "negative_rating": "-2",
            "nan_rating": "nan",
        }[defect]
    elif defect == "infinite_rating":
        lines[0][2] = "inf"
    elif defect == "missing_id":
        lines[0][0] = ""
    elif defect == "duplicate_pair":
        lines.append(list(lines[0]))
    elif defect == "header_only":
        lines = []
    elif defect == "empty_file":
        return b""
    elif defect == "binary":
        return b"\x00\xff" + garbage
    elif defect == "outside_declared_scale":  # the command declares --scale 1,5 x factor
        lines[0][2] = f"{6 * factor:g}"
    text = "\n".join(sep.join(line) for line in [header, *lines]) + "\n"
    return text.encode()


# The command fails before it imports a backend: the backend is irrelevant.
@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(
    rows=ratings,
    defect=st.sampled_from(DEFECTS),
    garbage=st.binary(max_size=40),
    sep=st.sampled_from([",", ";", "\t"]),
    factor=st.sampled_from([1.0, 0.5, 2.0, 20.0]),
)
def test_malformed_csv_gets_one_line_and_no_traceback(
    tmp_path_factory, rows, defect, garbage, sep, factor
):
    folder = tmp_path_factory.mktemp("case")
    path = folder / "ratings.csv"
    path.write_bytes(malformed_csv(rows, defect, garbage, sep, factor))
    out = folder / "run"
    argv = ["fit", "--data", str(path), "--sep", sep, "--out", str(out), "--epochs", "1"]
    if defect == "outside_declared_scale":
        argv += ["--scale", f"{factor:g},{5 * factor:g}"]
    done = subprocess.run(
        [sys.executable, "-c", COMMAND, *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=120,
    )
    err = done.stderr.strip()
    assert done.returncode == 2, (defect, done.stdout[-2000:], err[-2000:])
    assert len(err.splitlines()) == 1 and err.startswith("keras-hem fit: error: "), (defect, err)
    assert "Traceback" not in err
    assert not out.exists()  # nothing written, not even an empty folder


def run_command(*argv, cwd=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-c", COMMAND, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
        timeout=timeout,
    )


def test_help_answers_without_importing_keras():
    script = COMMAND.replace(
        "sys.exit(main())",
        "\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('keras loaded:', 'keras' in sys.modules)",
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage: keras-hem" in done.stdout and "keras loaded: False" in done.stdout


@pytest.mark.slow
def test_fit_keeps_the_backends_log_lines_out_of_its_output(tmp_path):
    rows = [(u, i, str(1 + (u * 7 + i) % 5)) for u in range(20) for i in range(15) if (u + i) % 3]
    path = tmp_path / "ratings.csv"
    path.write_bytes(malformed_csv(rows, "none", b"", ","))
    done = run_command(
        "fit", "--data", str(path), "--epochs", "1", "--hidden", "4", "--out", str(tmp_path / "run")
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.strip() == "", done.stderr[-3000:]  # no C++ log lines, no warnings
    assert "Saved model.keras" in done.stdout
