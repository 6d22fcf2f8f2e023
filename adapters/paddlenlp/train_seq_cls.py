"""ERNIE sequence classification on local files: the plugin's PaddleNLP train entry.

Behaves like PaddleNLP's ``applications/text_classification/multi_class/train.py`` for pip-only installs::

    python -m paddle_autotune_plugins.adapters.paddlenlp.train_seq_cls \\
        --model_name_or_path MODEL_DIR --train_file train.txt --dev_file dev.txt --label_file label.txt \\
        --output_dir out --learning_rate 1e-3 --per_device_train_batch_size 32 --num_train_epochs 3
    python -m paddle_autotune_plugins.adapters.paddlenlp.train_seq_cls config.json [--flag value ...]   (or .yaml)

Flags are PaddleNLP's ``TrainingArguments`` plus the data/model arguments below; a JSON file as the first
argument supplies the same keys, and flags after it win. Unknown keys and abbreviated flags are errors
(argparse would otherwise take ``--learning_rat`` for ``--learning_rate``).

Data: ``text<TAB>label`` lines, label a name from label.txt (one per line, line number = class id).

Defaults that differ from ``TrainingArguments`` (all can be overridden):
device cpu when Paddle has no CUDA; report_to none (not visualdl); evaluation and saving every epoch;
the best epoch by accuracy is loaded at the end and saved to output_dir; no tqdm bar (it glues itself to
the eval log line). ``save_total_limit`` is ignored by PaddleNLP in single-process runs, so the
``checkpoint-*`` folders are removed after training unless ``--keep_checkpoints``.
``metrics_output_path`` is never set here: it starts a child process and replaces signal handlers.
"""
import json
import os
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from typing import Optional

import yaml

# Import-time noise from Paddle that says nothing about this run.
warnings.filterwarnings("ignore", message="No ccache found")
warnings.filterwarnings("ignore", message="Setuptools is replacing distutils")

import numpy as np  # noqa: E402 (after the filters on purpose)
import paddle
from paddlenlp.data import DataCollatorWithPadding
from paddlenlp.trainer import PdArgumentParser, Trainer, TrainingArguments
from paddlenlp.transformers import AutoModelForSequenceClassification, AutoTokenizer
from paddlenlp.utils.log import logger

if __package__:
    from .callback import AutotuneReportCallback
else:  # run as a file (python adapters/paddlenlp/train_seq_cls.py): the callback module sits next to it
    from callback import AutotuneReportCallback


def preload():
    """--warm-start: importing this module has imported Paddle and PaddleNLP's Trainer; the study's trials
    are forks of the process that ran this (nothing else to do here, and nothing run: no operator, no
    device)."""


@dataclass
class DataArguments:
    dataset_dir: Optional[str] = field(
        default=None, metadata={"help": "Folder with train.txt, dev.txt, label.txt; the *_file flags win."})
    train_file: Optional[str] = field(default=None, metadata={"help": "Training data, text<TAB>label per line."})
    dev_file: Optional[str] = field(default=None, metadata={"help": "Evaluation data, text<TAB>label per line."})
    test_file: Optional[str] = field(
        default=None, metadata={"help": "Optional held-out data; scored once after training (never reported)."})
    label_file: Optional[str] = field(default=None, metadata={"help": "Label names, one per line."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per text after truncation."})


@dataclass
class ModelArguments:
    model_name_or_path: str = field(metadata={"help": "Local model directory (config, weights, tokenizer files)."})
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "Keep output_dir/checkpoint-* after training."})


def entry_defaults():
    return dict(
        device="cpu" if not paddle.is_compiled_with_cuda() else "gpu",
        report_to=["none"],
        do_train=True,
        do_eval=True,
        evaluation_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        disable_tqdm=True,
    )


class EntryParser(PdArgumentParser):
    def error(self, message):
        # One line, not argparse's usage dump (several hundred TrainingArguments flags).
        self.exit(2, f"{self.prog}: error: {message} (--help lists the arguments)\n")


def build_parser():
    # allow_abbrev=False: a misspelt --learning_rat must fail, not silently set learning_rate.
    parser = EntryParser((ModelArguments, DataArguments, TrainingArguments), allow_abbrev=False)
    parser.set_defaults(**entry_defaults())
    return parser


def follow_evaluation(parser, argv):
    """Saving follows evaluation unless set: otherwise --evaluation_strategy steps alone would clash with the
    epoch saving that load_best_model_at_end needs to match."""
    given = {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}
    namespace, _ = parser.parse_known_args(argv)  # plain values; the dataclasses are built later
    strategy = str(getattr(namespace.evaluation_strategy, "value", namespace.evaluation_strategy))
    if "save_strategy" not in given and strategy != "no":
        parser.set_defaults(save_strategy=strategy)
        if "save_steps" not in given and namespace.eval_steps:
            parser.set_defaults(save_steps=namespace.eval_steps)
    if strategy == "no" and "load_best_model_at_end" not in given:
        parser.set_defaults(load_best_model_at_end=False)  # nothing to pick the best epoch from


def json_to_flags(path):
    """The keys of a JSON config as flags (null values skipped: they mean "the default")."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f) if path.endswith(".json") else yaml.safe_load(f)  # best_config.yaml works too
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of argument names to values")
    flags = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, list):
            flags += [f"--{key}", *(str(v) for v in value)]
        elif isinstance(value, dict):
            flags += [f"--{key}", json.dumps(value)]
        else:
            flags += [f"--{key}", str(value)]
    return flags


def parse_args(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0].endswith((".json", ".yaml", ".yml")) and not argv[0].startswith("-"):
        try:
            argv = json_to_flags(argv[0]) + argv[1:]  # later flags win in argparse
        except (OSError, ValueError) as exc:
            parser.error(f"cannot read the JSON config: {exc}")
    follow_evaluation(parser, argv)
    try:
        model_args, data_args, training_args, unknown = parser.parse_args_into_dataclasses(
            args=argv, look_for_args_file=False, return_remaining_strings=True)
    except ValueError as exc:  # TrainingArguments.__post_init__ rejecting a combination
        parser.error(str(exc))
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return parser, model_args, data_args, training_args


def resolve_files(parser, data_args, model_args):
    for name in ("train", "dev", "label"):  # test.txt is scored only when asked for: trials need not pay for it
        attr = f"{name}_file"
        if getattr(data_args, attr) is None and data_args.dataset_dir:
            setattr(data_args, attr, os.path.join(data_args.dataset_dir, f"{name}.txt"))
    for attr in ("train_file", "dev_file", "label_file"):
        path = getattr(data_args, attr)
        if not path:
            parser.error(f"--{attr} is required (or --dataset_dir holding {attr.replace('_file', '')}.txt)")
        if not os.path.isfile(path):
            parser.error(f"--{attr} {path}: no such file")
    if data_args.test_file and not os.path.isfile(data_args.test_file):
        parser.error(f"--test_file {data_args.test_file}: no such file")
    if not os.path.isdir(model_args.model_name_or_path):
        # A model name would make PaddleNLP download from its hubs; trials must run offline.
        parser.error(f"--model_name_or_path {model_args.model_name_or_path}: not a local model directory")


def read_labels(path):
    with open(path, encoding="utf-8") as f:
        labels = [line.strip() for line in f if line.strip()]
    if len(labels) < 2:
        raise SystemExit(f"{path}: need at least two labels, found {len(labels)}")
    return labels


def read_examples(path, label_ids):
    examples = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            text, sep, label = line.rpartition("\t")
            if not sep:
                raise SystemExit(f"{path}:{number}: expected text<TAB>label")
            label = label.strip()
            if label not in label_ids:
                raise SystemExit(f"{path}:{number}: label {label!r} is not in the label file")
            examples.append((text, label_ids[label]))
    if not examples:
        raise SystemExit(f"{path}: no examples")
    return examples


def encode(examples, tokenizer, max_seq_length):
    features = []
    for text, label in examples:
        encoded = tokenizer(text, max_length=max_seq_length, truncation=True)
        features.append({"input_ids": encoded["input_ids"], "token_type_ids": encoded["token_type_ids"],
                         "labels": label})
    return features


class ListDataset(paddle.io.Dataset):
    def __init__(self, items):
        self.items = items

    def __getitem__(self, index):
        return self.items[index]

    def __len__(self):
        return len(self.items)


def make_compute_metrics(num_labels):
    def compute_metrics(eval_pred):
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        preds = np.asarray(logits).argmax(axis=-1)
        labels = np.asarray(eval_pred.label_ids).reshape(-1)
        accuracy = float((preds == labels).mean()) if labels.size else 0.0
        f1s = []  # macro F1 over every class of the label file; a class never predicted nor present scores 0
        for k in range(num_labels):
            tp = int(((preds == k) & (labels == k)).sum())
            fp = int(((preds == k) & (labels != k)).sum())
            fn = int(((preds != k) & (labels == k)).sum())
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        return {"accuracy": accuracy, "f1": float(np.mean(f1s))}
    return compute_metrics


def remove_checkpoints(output_dir):
    for name in os.listdir(output_dir):
        path = os.path.join(output_dir, name)
        if name.startswith("checkpoint-") and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)


def main(argv=None):
    parser, model_args, data_args, training_args = parse_args(argv)
    resolve_files(parser, data_args, model_args)
    if training_args.device.startswith("gpu") and not paddle.is_compiled_with_cuda():
        logger.warning("this Paddle build has no CUDA: training on cpu instead of %s" % training_args.device)
        training_args.device = "cpu"
    paddle.set_device(training_args.device)
    training_args.print_config(model_args, "Model")
    training_args.print_config(data_args, "Data")

    labels = read_labels(data_args.label_file)
    label_ids = {name: i for i, name in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_args.model_name_or_path, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id=label_ids)
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions and data_args.max_seq_length > max_positions:
        parser.error(f"--max_seq_length {data_args.max_seq_length} exceeds the model's "
                     f"max_position_embeddings {max_positions}")

    train_ds = ListDataset(encode(read_examples(data_args.train_file, label_ids), tokenizer, data_args.max_seq_length))
    dev_ds = ListDataset(encode(read_examples(data_args.dev_file, label_ids), tokenizer, data_args.max_seq_length))

    trainer = Trainer(
        model=model,
        args=training_args,
        data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=train_ds,
        eval_dataset=dev_ds,
        tokenizer=tokenizer,
        compute_metrics=make_compute_metrics(len(labels)),
        callbacks=[AutotuneReportCallback()],
    )

    if training_args.do_train:
        result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.save_model()  # the best epoch when load_best_model_at_end (the default here)
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
        trainer.save_state()
        if not model_args.keep_checkpoints:
            remove_checkpoints(training_args.output_dir)
    elif training_args.do_eval:
        trainer.evaluate()  # reported through the callback like any other evaluation

    if data_args.test_file:
        test_ds = ListDataset(encode(read_examples(data_args.test_file, label_ids), tokenizer,
                                     data_args.max_seq_length))
        test_metrics = trainer.predict(test_ds, metric_key_prefix="test").metrics
        trainer.log_metrics("test", test_metrics)
        trainer.save_metrics("test", test_metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
