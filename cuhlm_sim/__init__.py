"""cuhlm_sim: discrete-event simulator of hybrid LM inference over a wireless uplink."""

__version__ = "0.1.0"
