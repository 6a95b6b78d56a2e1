"""edge-emotion: on-device facial-expression estimates, published as anonymous summaries."""

__version__ = "0.1.0"
