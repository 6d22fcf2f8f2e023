"""What the adapters share (adapters/<suite>/ import it; no adapter imports another's package): reading a
flag script's output, scaling a schedule's milestones, the config-file errors, doctor's lines, the mark
that a patch of the suite's code is in place, reading a built scheduler's warm-up back, and Paddle 3's 0-D
tensors where old suite code expects shape [1]."""
