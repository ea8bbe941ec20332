"""Experiments at scale: parameter sweeps, capacity search and their figures.

``sweep`` expands a sweep file into runs and executes them resumably (in-process, a local
process pool or dask.distributed); ``capacity`` searches the largest device count meeting a set
of SLOs; ``plots`` draws the headline figures from their output folders.
"""
