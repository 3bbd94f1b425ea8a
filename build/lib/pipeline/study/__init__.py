"""The study's own decisions, each declared once: its vocabulary, the sampling frame, the survey designs,
the validation schemas built from the codebook, disclosure control, the published targets and the registry
of every output.
"""
