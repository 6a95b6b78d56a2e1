"""``edge bench``: the real pipeline, unpaced, timed per stage, against bare model invokes."""
