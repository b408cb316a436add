import pytest

from sphmask.checkpoint import CheckpointError
from sphmask.cli import Progress, run_tool
from sphmask.config import ConfigError
from sphmask.evaluation.io import EvaluationInputError
from sphmask.io.errors import DataFormatError


@pytest.mark.parametrize("error", [ConfigError("bad key"), CheckpointError("bad key"),
                                   DataFormatError("scan.ply", "bad key"), EvaluationInputError("bad key")])
def test_package_error_is_one_line_and_exit_2(error, capsys):
    def main(argv):
        raise error

    assert run_tool(main, []) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "bad key" in err and "Traceback" not in err


def test_debug_flag_reraises_and_is_removed_from_argv():
    seen = []

    def main(argv):
        seen.append(argv)
        raise ConfigError("bad key")

    with pytest.raises(ConfigError):
        run_tool(main, ["a", "--debug", "b"])
    assert seen == [["a", "b"]]


def test_bug_is_not_swallowed():
    def main(argv):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run_tool(main, [])


def test_interrupt_prints_progress_and_exits_130(capsys):
    progress = Progress()

    def main(argv):
        progress.set("wrote a.npz; nothing written for b.ply")
        raise KeyboardInterrupt

    assert run_tool(main, [], progress) == 130
    assert capsys.readouterr().err == "interrupted; wrote a.npz; nothing written for b.ply\n"


def test_return_value_is_the_exit_code():
    assert run_tool(lambda argv: None, []) == 0
    assert run_tool(lambda argv: 1, []) == 1
