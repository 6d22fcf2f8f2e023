"""One folder per suite; each registers its Adapter in the ``paddle_autotune.adapters`` entry-point group."""
