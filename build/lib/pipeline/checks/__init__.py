"""Tools for reviewers and methodologists, outside the stage chain: the independent recomputation of every
figure (make verify) and the simulation study of the methods (make validate-methods).
"""
