"""The house rules that a test can hold: every Python line within pyproject's limit (100)."""

import pathlib
import tomllib

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_python_lines_within_the_project_limit():
    limit = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["line-length"]
    too_long = [
        f"{path.relative_to(REPO)}:{i} ({len(line)})"
        for folder in ("ganjax", "experiments", "configs", "tests", "scripts")
        for path in sorted((REPO / folder).rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if len(line) > limit
    ]
    assert not too_long, f"lines over {limit} characters: {too_long}"
