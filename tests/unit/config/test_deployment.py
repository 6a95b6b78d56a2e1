"""``deployment:``: the section's keys, the AI Act Art. 5(1)(f) refusal shared by
``edge config check`` and ``edge run``, and the privacy report's deployment section."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import ConfigError, deployment_verdict, parse_text
from edge.config.loader import parse_document
from edge.preflight import run_preflight
from edge.privacy.report import render

FULL = """\
deployment:
  operator: Musée Exemple
  contact: dpo@example.org
  context: museum
  purpose: to see which exhibits visitors react to
  notice_location: at the entrance
  languages: [en, de, fr]
"""


def test_section_is_optional_and_defaults_are_documented() -> None:
    """A file without deployment: still loads: languages [en], exemption none, no context,
    and the verdict is a one-line note, not an error."""
    config = parse_text("mqtt:\n  host: h\n")
    assert config.deployment.languages == ("en",)
    assert config.deployment.exemption == "none"
    verdict = deployment_verdict(config.deployment)
    assert verdict.refusal is None and verdict.warning is None
    assert verdict.note is not None and "deployment.context" in verdict.note


def test_full_section_parses() -> None:
    """Every key of the section is read, with accents kept."""
    dep = parse_text(FULL).deployment
    assert dep.operator == "Musée Exemple"
    assert dep.context == "museum"
    assert dep.languages == ("en", "de", "fr")
    assert deployment_verdict(dep).refusal is None


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ("deployment:\n  context: office\n", "deployment.context"),
        ("deployment:\n  languages: [es]\n", "deployment.languages"),
        ("deployment:\n  languages: []\n", "deployment.languages"),
        ("deployment:\n  exemption: research\n", "deployment.exemption"),
        ("deployment:\n  operatr: x\n", "deployment.operatr"),
        ("deployment:\n  operator: ''\n", "deployment.operator"),
    ],
)
def test_bad_values_are_errors_with_line(body: str, path: str) -> None:
    """A wrong context, language, exemption, an unknown key or an empty operator is an
    error naming the key path and line 2."""
    with pytest.raises(ConfigError) as info:
        parse_text(body, "edge.yaml")
    issue = info.value.issues[0]
    assert issue.path == path
    assert issue.line == 2


@pytest.mark.parametrize("context", ["workplace", "education"])
def test_prohibited_context_is_refused_by_the_preflight(context: str) -> None:
    """workplace and education without exemption are a pre-flight issue citing Art. 5(1)(f)
    at the line of deployment.context."""
    loaded = parse_document(f"mqtt:\n  host: h\ndeployment:\n  context: {context}\n", "e.yaml")
    result = run_preflight(loaded, {})
    refusals = [i for i in result.issues if i.path == "deployment.context"]
    assert len(refusals) == 1
    assert "Art. 5(1)(f)" in refusals[0].message
    assert refusals[0].line == 4
    assert "exemption" in refusals[0].hint


@pytest.mark.parametrize("exemption", ["medical", "safety"])
def test_exemption_turns_refusal_into_warning(exemption: str) -> None:
    """With a medical or safety exemption the workplace is allowed, with a warning that says
    what the exemption obliges."""
    loaded = parse_document(
        f"deployment:\n  context: workplace\n  exemption: {exemption}\n", "e.yaml"
    )
    result = run_preflight(loaded, {})
    assert not [i for i in result.issues if i.path.startswith("deployment")]
    (warning,) = [w for w in result.warnings if "deployment" in w]
    assert exemption in warning and "Art. 5(1)(f)" in warning and "DPIA" in warning


def test_privacy_report_shows_the_deployment() -> None:
    """`edge privacy report` has a deployment section with the declared operator, context
    and languages, and says when nothing is declared."""
    text = render(parse_text(FULL), "pi")
    assert "7. Deployment" in text
    assert "Musée Exemple" in text and "museum" in text and "en, de, fr" in text
    empty = " ".join(render(parse_text(""), "pi").split())
    assert "operator: (not declared)" in empty
    assert "no deployment context declared" in empty.lower()


def _edge(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=120,
        env=env,
    )


@pytest.mark.integration
def test_cli_check_and_run_exit_2_on_workplace(tmp_path: Path) -> None:
    """`edge config check` and `edge run` both exit 2 on context: workplace with the YAML line
    and Art. 5(1)(f); with exemption: safety config check exits 0 and warns; without the
    section it exits 0 with a one-line note."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"state_dir: {tmp_path / 's'}\ndeployment:\n  context: workplace\n")
    for res in (_edge("config", "check", str(bad)), _edge("run", "--config", str(bad))):
        assert res.returncode == 2, res.stderr
        assert f"{bad}:3: deployment.context" in res.stderr
        assert "Art. 5(1)(f)" in res.stderr
        assert "Traceback" not in res.stderr
    ok = tmp_path / "ok.yaml"
    ok.write_text("deployment:\n  context: workplace\n  exemption: safety\n")
    res = _edge("config", "check", str(ok))
    assert res.returncode == 0, res.stderr
    assert "warning:" in res.stderr and "safety" in res.stderr
    plain = tmp_path / "plain.yaml"
    plain.write_text("mqtt:\n  host: h\n")
    res = _edge("config", "check", str(plain))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("note: no deployment context declared") == 1
