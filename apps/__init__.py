"""The applications over the stage library: the ``fqsr`` CLI, the build pipeline, sweeps, the demo.

They sit above every other layer (models -> flows -> hw -> sim -> reports -> apps)
and may import them all; nothing below imports them.
"""
