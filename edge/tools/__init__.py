"""Developer and auditor verbs (``edge bench``, ``edge eval``): not on the hot path."""
