"""The words of the transparency notice (AI Act Art. 50(3)) in English, German and French.

Pure: built from the validated configuration, no I/O. The wording follows the signage text and
the facts of docs/privacy.md (frames only in memory, nothing but window summaries leaves the
device, k-anonymity, "expression estimates", Art. 5(1)(f)); a test checks the key facts in
every language. Text the operator wrote (operator, contact, purpose, place) is shown as written.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.config import Config

LANGUAGES = ("en", "de", "fr")

_CONTEXTS: dict[str, dict[str, str]] = {
    "en": {
        "public_space": "a public space", "retail": "a shop", "venue": "a venue",
        "museum": "a museum", "research": "a research setting", "home": "a home",
        "workplace": "a workplace", "education": "an education institution",
    },
    "de": {
        "public_space": "einem öffentlichen Raum", "retail": "einem Geschäft",
        "venue": "einem Veranstaltungsort", "museum": "einem Museum",
        "research": "einer Forschungsumgebung", "home": "einer Wohnung",
        "workplace": "einem Arbeitsplatz", "education": "einer Bildungseinrichtung",
    },
    "fr": {
        "public_space": "un espace public", "retail": "un commerce", "venue": "un lieu "
        "d'événements", "museum": "un musée", "research": "un cadre de recherche",
        "home": "un domicile", "workplace": "un lieu de travail",
        "education": "un établissement d'enseignement",
    },
}

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Camera: anonymous facial-expression statistics",
        "what": "A camera here estimates facial expressions (for example smiling or neutral) "
        "to produce anonymous statistics.",
        "no_image": "No image is stored or sent. Images are analysed on this device and "
        "deleted immediately. Nobody is identified.",
        "groups": "Only anonymous counts and, for groups of at least {k} faces, shares of "
        "expression estimates leave the device.",
        "not_feelings": "These are estimates of how faces look, not of how you feel, and are "
        "never used to make decisions about anyone.",
        "purpose": "Purpose", "operator": "Operator", "contact": "Contact",
        "full": "Full notice", "scan": "Scan the code for the full notice.",
        "h_who": "Who is responsible",
        "who": "{operator} operates this sensor. Contact: {contact}.",
        "h_does": "What the camera does",
        "does": "This camera, installed in {context}, views this area continuously. A model "
        "on the device finds faces and estimates which of seven facial expressions each "
        "face most resembles (angry, disgust, fear, happy, sad, surprise, neutral). The "
        "estimates are combined into anonymous statistics per time window of {window} seconds.",
        "h_kept": "What is kept and what is sent",
        "kept": "Each image exists only in the device's memory while it is analysed and is "
        "then overwritten by the next one. No image or video is recorded, stored or sent, and "
        "no face template is made: the device cannot recognise anyone. Faces are followed for "
        "a few seconds with temporary numbers that are forgotten {missed} seconds after the "
        "face leaves the picture. Only a summary per time window leaves the device: how many "
        "faces, for how long, and the share of each expression estimate. A window with fewer "
        "than {k} faces carries only counts and times, no expression estimates.",
        "masks": "Parts of the picture are blacked out before any analysis.",
        "dp": "Random noise is added to the published numbers (differential privacy).",
        "setup": "Only while the camera is being installed or adjusted (started by hand, at "
        "most an hour), a live picture with faces pixelated is shown on the installer's "
        "screen to aim it; it is not recorded either.",
        "h_mean": "What the numbers mean",
        "mean": "Expression estimates describe how faces look to a model trained on "
        "photographs; they are not measurements of feelings. The model is less accurate for "
        "some groups of people, and the numbers are never used to make decisions about anyone.",
        "h_law": "Why you see this notice",
        "law": "The EU AI Act (Art. 50(3)) requires that people exposed to an emotion "
        "recognition system are informed; the GDPR's information duties (Art. 13) apply to "
        "the camera. Emotion recognition at work and in education is prohibited "
        "(AI Act Art. 5(1)(f)) except for medical or safety reasons.",
        "exempt_medical": "This installation is used for medical reasons only.",
        "exempt_safety": "This installation is used for safety reasons only.",
        "h_ask": "Questions and your rights",
        "ask": "For questions, or to exercise your rights under the GDPR, contact {contact}.",
        "posted": "Notice posted: {where}.",
    },
    "de": {
        "title": "Kamera: anonyme Statistik über Gesichtsausdrücke",
        "what": "Eine Kamera schätzt hier Gesichtsausdrücke (zum Beispiel Lächeln oder "
        "neutral), um anonyme Statistiken zu erstellen.",
        "no_image": "Es wird kein Bild gespeichert oder gesendet. Bilder werden auf diesem "
        "Gerät ausgewertet und sofort gelöscht. Niemand wird identifiziert.",
        "groups": "Nur anonyme Anzahlen und, für Gruppen von mindestens {k} Gesichtern, "
        "Anteile geschätzter Ausdrücke verlassen das Gerät.",
        "not_feelings": "Es sind Schätzungen, wie Gesichter aussehen, nicht wie Sie sich "
        "fühlen, und sie werden nie für Entscheidungen über Personen verwendet.",
        "purpose": "Zweck", "operator": "Betreiber", "contact": "Kontakt",
        "full": "Vollständiger Hinweis", "scan": "Code scannen für den vollständigen Hinweis.",
        "h_who": "Wer verantwortlich ist",
        "who": "{operator} betreibt diesen Sensor. Kontakt: {contact}.",
        "h_does": "Was die Kamera tut",
        "does": "Diese Kamera in {context} erfasst diesen Bereich laufend. Ein Modell auf "
        "dem Gerät findet Gesichter und schätzt, welchem von sieben Gesichtsausdrücken jedes "
        "Gesicht am meisten ähnelt (Ärger, Ekel, Angst, Freude, Traurigkeit, Überraschung, "
        "neutral). Die Schätzungen werden zu anonymen Statistiken je Zeitfenster von "
        "{window} Sekunden zusammengefasst.",
        "h_kept": "Was aufbewahrt und was gesendet wird",
        "kept": "Jedes Bild existiert nur im Arbeitsspeicher des Geräts, solange es "
        "ausgewertet wird, und wird dann vom nächsten überschrieben. Kein Bild und kein Video "
        "wird aufgezeichnet, gespeichert oder gesendet, und es wird kein Gesichtsmerkmal "
        "(Template) gebildet: Das Gerät kann niemanden wiedererkennen. Gesichter werden einige "
        "Sekunden lang mit vorläufigen Nummern verfolgt, die {missed} Sekunden nachdem das "
        "Gesicht das Bild verlassen hat, vergessen werden. Nur eine Zusammenfassung je "
        "Zeitfenster verlässt das Gerät: wie viele Gesichter, wie lange und der Anteil jedes "
        "geschätzten Ausdrucks. Ein Zeitfenster mit weniger als {k} Gesichtern enthält nur "
        "Anzahlen und Zeiten, keine geschätzten Ausdrücke.",
        "masks": "Teile des Bildes werden vor jeder Auswertung geschwärzt.",
        "dp": "Den veröffentlichten Zahlen wird Zufallsrauschen hinzugefügt (Differential "
        "Privacy).",
        "setup": "Nur während die Kamera eingerichtet wird (von Hand gestartet, höchstens eine "
        "Stunde), sieht die einrichtende Person ein Live-Bild mit verpixelten Gesichtern, um "
        "sie auszurichten; auch dieses wird nicht aufgezeichnet.",
        "h_mean": "Was die Zahlen bedeuten",
        "mean": "Geschätzte Gesichtsausdrücke beschreiben, wie Gesichter für ein mit Fotos "
        "trainiertes Modell aussehen; sie messen keine Gefühle. Das Modell ist für manche "
        "Personengruppen ungenauer als für andere, und die Zahlen werden nie für "
        "Entscheidungen über Personen verwendet.",
        "h_law": "Warum Sie diesen Hinweis sehen",
        "law": "Die KI-Verordnung der EU (Art. 50 Abs. 3) verlangt, dass Personen, die einem "
        "Emotionserkennungssystem ausgesetzt sind, informiert werden; für die Kamera gelten "
        "die Informationspflichten der DSGVO (Art. 13). Emotionserkennung am Arbeitsplatz und "
        "in Bildungseinrichtungen ist verboten (KI-Verordnung Art. 5 Abs. 1 Buchst. f), außer "
        "aus medizinischen Gründen oder Sicherheitsgründen.",
        "exempt_medical": "Diese Installation dient ausschließlich medizinischen Zwecken.",
        "exempt_safety": "Diese Installation dient ausschließlich Sicherheitszwecken.",
        "h_ask": "Fragen und Ihre Rechte",
        "ask": "Bei Fragen oder um Ihre Rechte nach der DSGVO auszuüben, wenden Sie sich an "
        "{contact}.",
        "posted": "Aushang: {where}.",
    },
    "fr": {
        "title": "Caméra : statistiques anonymes des expressions du visage",
        "what": "Une caméra estime ici les expressions du visage (par exemple sourire ou "
        "neutre) pour produire des statistiques anonymes.",
        "no_image": "Aucune image n'est enregistrée ni envoyée. Les images sont analysées sur "
        "cet appareil et effacées aussitôt. Personne n'est identifié.",
        "groups": "Seuls des nombres anonymes et, pour des groupes d'au moins {k} visages, "
        "des proportions d'expressions estimées quittent l'appareil.",
        "not_feelings": "Ce sont des estimations de l'apparence des visages, pas de ce que "
        "vous ressentez, et elles ne servent jamais à prendre une décision sur quiconque.",
        "purpose": "Finalité", "operator": "Exploitant", "contact": "Contact",
        "full": "Avis complet", "scan": "Scannez le code pour l'avis complet.",
        "h_who": "Qui est responsable",
        "who": "{operator} exploite ce capteur. Contact : {contact}.",
        "h_does": "Ce que fait la caméra",
        "does": "Cette caméra, installée dans {context}, filme cette zone en continu. Un "
        "modèle sur l'appareil détecte les visages et estime à laquelle de sept expressions "
        "chaque visage ressemble le plus (colère, dégoût, peur, joie, tristesse, surprise, "
        "neutre). Les estimations sont regroupées en statistiques anonymes par fenêtre de "
        "{window} secondes.",
        "h_kept": "Ce qui est conservé et ce qui est envoyé",
        "kept": "Chaque image n'existe que dans la mémoire de l'appareil le temps de son "
        "analyse, puis est remplacée par la suivante. Aucune image ni vidéo n'est enregistrée, "
        "conservée ou envoyée, et aucun gabarit de visage n'est créé : l'appareil ne peut "
        "reconnaître personne. Les visages sont suivis quelques secondes avec des numéros "
        "temporaires, oubliés {missed} secondes après que le visage a quitté l'image. Seul un "
        "résumé par fenêtre de temps quitte l'appareil : combien de visages, pendant combien "
        "de temps, et la part de chaque expression estimée. Une fenêtre de moins de {k} "
        "visages ne contient que des nombres et des durées, aucune expression estimée.",
        "masks": "Des parties de l'image sont noircies avant toute analyse.",
        "dp": "Un bruit aléatoire est ajouté aux chiffres publiés (confidentialité "
        "différentielle).",
        "setup": "Uniquement pendant l'installation ou le réglage de la caméra (lancé à la "
        "main, une heure au plus), une image en direct aux visages pixellisés est montrée à "
        "l'installateur pour l'orienter ; elle n'est pas enregistrée non plus.",
        "h_mean": "Ce que signifient les chiffres",
        "mean": "Les expressions estimées décrivent l'apparence des visages pour un modèle "
        "entraîné sur des photographies ; elles ne mesurent pas les sentiments. Le modèle est "
        "moins précis pour certains groupes de personnes, et les chiffres ne servent jamais à "
        "prendre une décision sur quiconque.",
        "h_law": "Pourquoi vous voyez cet avis",
        "law": "Le règlement européen sur l'IA (art. 50, par. 3) exige que les personnes "
        "exposées à un système de reconnaissance des émotions en soient informées ; les "
        "obligations d'information du RGPD (art. 13) s'appliquent à la caméra. La "
        "reconnaissance des émotions sur le lieu de travail et dans les établissements "
        "d'enseignement est interdite (règlement sur l'IA, art. 5, par. 1, point f), sauf pour "
        "des raisons médicales ou de sécurité.",
        "exempt_medical": "Cette installation sert uniquement à des fins médicales.",
        "exempt_safety": "Cette installation sert uniquement à des fins de sécurité.",
        "h_ask": "Questions et droits",
        "ask": "Pour toute question, ou pour exercer vos droits au titre du RGPD, contactez "
        "{contact}.",
        "posted": "Affichage de l'avis : {where}.",
    },
}


@dataclass(frozen=True, slots=True)
class SignText:
    """The words on the printed sign in one language."""

    lang: str
    title: str
    lines: tuple[str, ...]
    purpose: str | None
    operator: str
    contact: str
    qr_caption: str


@dataclass(frozen=True, slots=True)
class NoticeText:
    """The full notice in one language: a title and (heading, paragraph) sections."""

    lang: str
    title: str
    sections: tuple[tuple[str, str], ...]


def _number(value: float, lang: str) -> str:
    text = f"{value:g}"
    return text if lang == "en" else text.replace(".", ",")


def _label(words: dict[str, str], key: str, value: str, lang: str) -> str:
    """``Label: value``; French puts a space before the colon."""
    return f"{words[key]}{' : ' if lang == 'fr' else ': '}{value}"


def sign_text(config: Config, lang: str) -> SignText:
    """The sign's words; operator and contact must be set (``edge notice`` checks)."""
    words, dep = _WORDS[lang], config.deployment
    lines = (
        words["what"],
        words["no_image"],
        words["groups"].format(k=config.privacy.min_faces),
        words["not_feelings"],
    )
    return SignText(
        lang=lang,
        title=words["title"],
        lines=lines,
        purpose=_label(words, "purpose", dep.purpose, lang) if dep.purpose else None,
        operator=_label(words, "operator", str(dep.operator), lang),
        contact=_label(words, "contact", str(dep.contact), lang),
        qr_caption=_label(words, "full", dep.notice_url, lang) if dep.notice_url
        else words["scan"],
    )


def notice_text(config: Config, lang: str) -> NoticeText:
    """The full notice's words in ``lang``."""
    words, dep = _WORDS[lang], config.deployment
    context = _CONTEXTS[lang][dep.context] if dep.context else _CONTEXTS[lang]["public_space"]
    does = words["does"].format(
        context=context, window=_number(config.aggregation.window_s, lang)
    )
    if dep.purpose:
        does += " " + _label(words, "purpose", dep.purpose, lang)
    kept = words["kept"].format(
        missed=_number(config.tracking.max_missed_s, lang), k=config.privacy.min_faces
    )
    if config.privacy.masks:
        kept += " " + words["masks"]
    if config.privacy.dp.enabled:
        kept += " " + words["dp"]
    kept += " " + words["setup"]
    law = words["law"]
    if dep.exemption != "none":
        law += " " + words[f"exempt_{dep.exemption}"]
    ask = words["ask"].format(contact=dep.contact)
    if dep.notice_location:
        ask += " " + words["posted"].format(where=dep.notice_location)
    return NoticeText(
        lang=lang,
        title=words["title"],
        sections=(
            (words["h_who"], words["who"].format(operator=dep.operator, contact=dep.contact)),
            (words["h_does"], does),
            (words["h_kept"], kept),
            (words["h_mean"], words["mean"]),
            (words["h_law"], law),
            (words["h_ask"], ask),
        ),
    )
