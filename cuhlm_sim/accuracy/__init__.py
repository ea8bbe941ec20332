"""Measured accuracy: closed-loop U-HLM / CU-HLM decoding with a real model pair, scored text.

The trace (``cuhlm_sim.traces``) replays every token as an independent decision point; here the
policy really acts, so a skipped token the LLM would have rejected changes everything after it.
Modules: ``configs`` (what is run), ``prompts`` (held-out prompts), ``decode`` (the closed loop),
``score`` (embedding cosine, pass@1, shared prefix, clustered intervals), ``run`` (resumable
orchestration and the Parquet table). torch is imported lazily, as in the trace generator.
"""
