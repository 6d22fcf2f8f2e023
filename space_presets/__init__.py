"""Data-only search-space presets (YAML). See paddle_autotune_plugins/search_space/presets.py for the format."""
