"""``edge setup``: the installer's local, time-limited view of the camera (aim it, see the faces
the detector finds and their size, draw masks and the region of interest, save them into the
YAML file). Geometry and the YAML round-trip are pure modules; the page is
:mod:`edge.installer.static`, served by :mod:`edge.web`."""
