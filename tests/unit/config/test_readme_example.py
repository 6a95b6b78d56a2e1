"""The README's `edge config check` example is what the tool prints for the README's file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.cli import main

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_config_check_example_is_the_real_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The YAML block after the README's config-check-example marker, checked with
    `edge config check edge.yaml`, prints exactly the README's next block, exit 2."""
    text = README.read_text()
    example = text[text.index("<!-- config-check-example") :]
    yaml_block, output_block = re.findall(r"```[a-z]*\n(.*?)```", example, re.S)[:2]
    (tmp_path / "edge.yaml").write_text(yaml_block)
    monkeypatch.chdir(tmp_path)
    code = main(["config", "check", "edge.yaml"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out + err == output_block
