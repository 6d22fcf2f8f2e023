"""PaddleSeg configs for the tests of both layers: the bundled digits config, and a _base_ chain written out."""
import pathlib
import textwrap

from conftest import REPO
import pytest

CONFIGS = REPO / "adapters" / "paddleseg" / "configs"
BUNDLED = CONFIGS / "pp_liteseg_stdc1_digits.yml"


def write_file(folder, name, text):
    path = pathlib.Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture()
def chain(tmp_path):
    """A child with two bases: the child wins, the first base wins over the second, mappings merge key by
    key, lists are replaced whole, `_inherited_: False` replaces the base's mapping."""
    write_file(tmp_path, "_base_/a.yml", """
        batch_size: 2
        iters: 100
        optimizer: {type: SGD, momentum: 0.9, weight_decay: 4.0e-5}
        lr_scheduler: {type: PolynomialDecay, learning_rate: 0.01, power: 0.9}
        train_dataset: {type: Dataset, dataset_root: a, num_classes: 2, mode: train}
        """)
    write_file(tmp_path, "_base_/b.yml", """
        batch_size: 16
        iters: 999
        extra_from_b: kept
        loss: {types: [{type: CrossEntropyLoss}], coef: [1, 0.4]}
        model: {type: PPLiteSeg, backbone: {type: STDC1, pretrained: x}, arm_out_chs: [32, 64, 128]}
        """)
    return write_file(tmp_path, "configs/child.yml", """
        _base_: ['../_base_/a.yml', '../_base_/b.yml']
        iters: 40
        optimizer: {weight_decay: 1.0e-4}
        model: {backbone: {pretrained: null}, arm_out_chs: [16, 32, 64]}
        train_dataset: {_inherited_: False, type: Dataset, dataset_root: c, num_classes: 2, mode: train}
        """)
