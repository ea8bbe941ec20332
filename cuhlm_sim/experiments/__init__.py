"""Experiments at scale: parameter sweeps, capacity search, validation and their figures.

``sweep`` expands a sweep file into runs and executes them resumably (in-process, a local
process pool or dask.distributed); ``capacity`` searches the largest device count meeting a set
of SLOs; ``validation`` checks the model against closed forms and the papers' claims (one
table of them, shared with the tests); ``plots`` draws the headline figures from their output
folders.
"""
