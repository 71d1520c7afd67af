"""Finding a rare category interactively, from a handful of examples to a trained model.

state (labels that survive a kill) -> pool_cache (the frozen lower trunk's maps of every pool image,
computed once) -> rounds (train the top of the network and the heads, score the pool, choose what to
show: top, uncertain, random) -> loop (round after round, resumable); simulation labels from ground
truth for benchmark (round time and positives found per strategy) and the tests.
"""
