"""Data-only search-space presets (YAML). See paddle_autotune_plugins/presets.py for the format."""
