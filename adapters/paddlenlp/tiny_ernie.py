"""A tiny random-init ERNIE for sequence classification, saved as a local model directory.

Pretrained ERNIE weights cannot be downloaded here and a real ERNIE-3.0 would take hours per trial on a
CPU, so trials start from a small model (~0.4M parameters with a 2k-character vocabulary) built from a
local vocab file. The directory holds what ``from_pretrained`` reads (config.json, the weights,
vocab.txt, tokenizer_config.json), so both of these work offline with the directory path::

    AutoModelForSequenceClassification.from_pretrained(path)
    AutoTokenizer.from_pretrained(path)

The same seed and vocab give the same weights. Random init learns at ~1e-3, not at the 2e-5..5e-5 of
the pretrained-ERNIE presets (docs/suites.md).
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

MARKER = ".complete.json"
FORMAT_VERSION = 1

# Small enough for 7-9 s/epoch on 1,000 texts at max length 64 on 2 CPU cores.
DEFAULT_ARCH = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
                    max_position_embeddings=128)


def _file_sha1(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def ensure_tiny_ernie(path, vocab_file, num_labels=2, seed=0, **arch):
    """Create the model directory at path unless it already holds one made from the same inputs; return path.

    arch overrides DEFAULT_ARCH (hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
    max_position_embeddings, hidden_dropout_prob, ...): any ErnieConfig field.
    """
    config_kwargs = dict(DEFAULT_ARCH, **arch)
    path = os.path.abspath(os.path.expanduser(path))
    with open(vocab_file, encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f if line.rstrip("\n")]
    if not vocab or vocab[0] != "[PAD]":
        raise ValueError(f"{vocab_file}: the first token must be [PAD] (ERNIE's pad_token_id is 0)")
    params = {"vocab_sha1": _file_sha1(vocab_file), "num_labels": num_labels, "seed": seed,
              "config": config_kwargs, "version": FORMAT_VERSION}
    try:
        with open(os.path.join(path, MARKER), encoding="utf-8") as f:
            if json.load(f) == params:
                return path
    except (OSError, ValueError):
        pass

    # Imported here: the data and cache helpers should not pay for importing Paddle (~5 s).
    import paddle
    from paddlenlp.transformers import ErnieConfig, ErnieForSequenceClassification, ErnieTokenizer

    # Build next to the target and move into place, so a reader never sees half a model directory.
    tmp = f"{path}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    config = ErnieConfig(vocab_size=len(vocab), num_labels=num_labels, pad_token_id=0, **config_kwargs)
    paddle.seed(seed)  # parameter init draws from Paddle's global generator
    model = ErnieForSequenceClassification(config)
    model.save_pretrained(tmp)
    tokenizer = ErnieTokenizer(vocab_file=vocab_file)
    tokenizer.save_pretrained(tmp)
    with open(os.path.join(tmp, MARKER), "w", encoding="utf-8") as f:
        json.dump(params, f, sort_keys=True)

    if os.path.isdir(path):
        shutil.rmtree(path)  # stale (other inputs) or incomplete
    try:
        os.replace(tmp, path)
    except OSError:
        # Another process built the same model at the same moment: keep theirs (same seed, same bytes).
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.isfile(os.path.join(path, MARKER)):
            raise
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("path", help="model directory to create")
    parser.add_argument("--vocab_file", required=True)
    parser.add_argument("--num_labels", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(ensure_tiny_ernie(args.path, args.vocab_file, num_labels=args.num_labels, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
