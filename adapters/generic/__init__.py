"""Generic adapter: any training script; its flags are its config, its `NAME: value` lines its metrics."""
