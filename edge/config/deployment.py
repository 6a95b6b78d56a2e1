"""``deployment:``: who runs the sensor, where, and what for (AI Act Art. 5(1)(f) and 50(3)).

Every key is optional so that files written before this section keep working; ``edge notice``
needs ``operator`` and ``contact``. Whether a context is allowed is decided by the pre-flight
(:func:`deployment_verdict`), so ``edge config check`` and ``edge run`` refuse the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from edge.config.base import Strict

Context = Literal[
    "public_space", "retail", "venue", "museum", "research", "home", "workplace", "education"
]
Exemption = Literal["none", "medical", "safety"]
Language = Literal["en", "de", "fr"]

#: Contexts where emotion recognition is prohibited in the EU (AI Act Art. 5(1)(f)) unless it
#: is used for medical or safety reasons.
PROHIBITED_CONTEXTS: frozenset[str] = frozenset({"workplace", "education"})

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


def _languages(value: object) -> object:
    """One clear error for every wrong form of ``languages`` (a list of en/de/fr)."""
    if isinstance(value, str):
        value = [value]
    known = ("en", "de", "fr")
    if (
        not isinstance(value, list | tuple)
        or not value
        or any(item not in known for item in value)
        or len(set(value)) != len(value)
    ):
        raise ValueError(
            f"languages must be a list of one or more of {', '.join(known)} without repeats, "
            f"e.g. [en, de] (got {value!r})"
        )
    return tuple(value)


class DeploymentConfig(Strict):
    """Where and by whom the sensor is used; the transparency notice is made from it."""

    operator: Text | None = Field(
        default=None, description="Who runs the sensor (the deployer), as shown on the notice."
    )
    contact: Text | None = Field(
        default=None,
        description="How people reach the operator (e-mail, phone, address) about the sensor.",
    )
    context: Context | None = Field(
        default=None,
        description="Where the device is used; workplace and education are refused unless "
        "exemption is medical or safety (AI Act Art. 5(1)(f)).",
    )
    purpose: Text | None = Field(
        default=None, description="What the estimates are used for, in one sentence."
    )
    notice_location: Text | None = Field(
        default=None, description="Where the notice is posted (e.g. 'at the entrance')."
    )
    notice_url: Text | None = Field(
        default=None,
        description="Where the full notice is published; the sign's QR code points there "
        "(default: the QR code holds the short notice text itself).",
    )
    languages: Annotated[tuple[Language, ...], BeforeValidator(_languages)] = Field(
        default=("en",), description="Languages of the notice: en, de, fr."
    )
    exemption: Exemption = Field(
        default="none",
        description="medical or safety: the only reasons emotion recognition is allowed at "
        "work or in education (Art. 5(1)(f)).",
    )


@dataclass(frozen=True, slots=True)
class DeploymentVerdict:
    """What the declared context means: ``refusal`` stops a start, ``warning`` does not."""

    refusal: str | None
    refusal_hint: str
    warning: str | None
    note: str | None


def deployment_verdict(deployment: DeploymentConfig | None) -> DeploymentVerdict:
    """Pure: whether ``deployment.context`` is allowed, and what to tell the operator."""
    if deployment is None or deployment.context is None:
        return DeploymentVerdict(
            None,
            "",
            None,
            "no deployment context declared (deployment.context); `edge notice` and the "
            "AI Act checks need the deployment: section (firmware_config/edge.yaml)",
        )
    context = deployment.context
    if context not in PROHIBITED_CONTEXTS:
        return DeploymentVerdict(None, "", None, None)
    if deployment.exemption == "none":
        return DeploymentVerdict(
            f"emotion recognition in the {context} is prohibited in the EU (AI Act Art. "
            "5(1)(f), since 2 February 2025) unless it is used for medical or safety reasons",
            "do not deploy the sensor here; if it serves a medical or safety purpose, write "
            "deployment.exemption: medical (or safety) and document that purpose",
            None,
            None,
        )
    return DeploymentVerdict(
        None,
        "",
        f"deployment.context {context} with exemption {deployment.exemption}: AI Act Art. "
        f"5(1)(f) allows this only for {deployment.exemption} reasons; the estimates must "
        "serve that purpose alone (state it in deployment.purpose), never the assessment, "
        "monitoring or management of the people in view; the system is high-risk (Annex III "
        "1(c)): keep the documentation, inform the people concerned (edge notice) and their "
        "representatives, and do a DPIA (GDPR Art. 35)",
        None,
    )
