"""The transparency notice (EU AI Act Art. 50(3)) made from the ``deployment:`` section:
``edge notice`` writes a printable A4 sign (PDF, PNG) and the full notice (HTML, Markdown) in
the chosen languages. The words are :mod:`edge.notice.text`; the sign :mod:`edge.notice.sign`
(reportlab, Pillow and segno: ``pip install 'edge-emotion[setup]'``)."""
