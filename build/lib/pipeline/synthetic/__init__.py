"""The synthetic survey: a seeded generative model calibrated to the published figures (make synthetic).

Outside the stage chain: the stages read its exports from data/raw exactly as they would read real ones.
"""
