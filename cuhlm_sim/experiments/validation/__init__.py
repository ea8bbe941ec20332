"""Validation against the papers and against closed forms (``make validate`` ->
``analysis/validation.md``).

- :mod:`~cuhlm_sim.experiments.validation.table`: every closed form and paper claim, once
  (``tests/validation`` runs the same closed-form cases);
- :mod:`~cuhlm_sim.experiments.validation.running`: settings, statistics over seeds, the runner,
  the synthetic and real traces;
- :mod:`~cuhlm_sim.experiments.validation.papers`: the paper scenarios, their baselines and the
  SNR sweep;
- :mod:`~cuhlm_sim.experiments.validation.closed`: the closed-form checks;
- :mod:`~cuhlm_sim.experiments.validation.report`: build, render and write the report.
"""
