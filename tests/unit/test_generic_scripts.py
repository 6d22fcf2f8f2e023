"""The generic adapter on an argparse script as people write them: metrics logged on stderr with colours,
a store_true switch, a --save_dir that every run would share, flags the command does not give."""
from paddle_autotune_plugins.suites.flags import parse_flags, parse_help, to_flags


def test_help_switches_and_flags_round_trip():
    text = ("usage: t.py [-h] [--flip] [-q | --quiet] [--lr LR] [--do_train [DO_TRAIN]]\n\noptions:\n"
            "  -h, --help            show this help message and exit\n  --flip                flip it\n"
            "  -q, --quiet\n  --lr LR               rate\n  --do_train [DO_TRAIN]\n")
    found = parse_help(text)
    assert found.names == {"flip", "quiet", "lr", "do_train"} and found.switches == {"flip", "quiet"}
    args = parse_flags(["--flip", "--lr", "0.1", "--do_train"], found.switches)
    assert args == {"flip": True, "lr": 0.1, "do_train": True}
    assert to_flags(dict(args, quiet=False), found.switches) == ["--flip", "--lr", "0.1", "--do_train", "true"]
