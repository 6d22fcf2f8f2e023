"""PaddleClas adapter: native ppcls YAML configs, trained by ppcls's own Engine, one process per trial."""
