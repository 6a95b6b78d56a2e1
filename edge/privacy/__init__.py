"""Privacy: the frame and detection filter (masks, ROI, minimum face size), differential
privacy of the published numbers, and the plain-language report of what leaves the device.

Nothing is imported here so that the cheap CLI verb (:mod:`edge.privacy.report`) loads no
OpenCV."""
