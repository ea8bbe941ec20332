"""cuhlm_sim: discrete-event simulator of hybrid LM inference over a wireless uplink."""

__version__ = "0.1.0"

#: Bumped whenever the same scenario and seed give different results (a model change, a new
#: way of drawing random numbers). Sweep runs stored under another revision are not reused.
#: 2: trace offsets and start times drawn per component; events shared by coinciding drafts.
#: 3: skip decisions on the u_count grid; one window rule; transmit energy from the uplink's
#:    power model; a stalled payload keeps its progress; per-(component, device) streams.
#: 4: verified tokens committing exactly at the window end count (SimPy ran to end_s
#:    exclusive); exact_rejection_rate from the trace's accept decisions, paired with the
#:    truncated test.
#: 5: a request replays one whole trace sequence (devices start at a random sequence);
#:    per-token / per-batch time distributions; drafting energy from the actual times.
MODEL_REVISION = 5
