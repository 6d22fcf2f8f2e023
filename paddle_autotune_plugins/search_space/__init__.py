"""The search space: specs, presets, ranges around the config, the config rescaled to the devices, dotted paths."""
