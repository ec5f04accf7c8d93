"""`llmsimc fmt`: rewrites in place, `--check` reports, errors are diagnostics."""

from __future__ import annotations

from pathlib import Path

from llmsim.cli.llmsimc import main

MESSY = 'model llama {catalog="Llama-3.1-8B"}   # the model\n'
CLEAN = 'model llama { catalog = "Llama-3.1-8B" }  # the model\n'


def test_fmt_rewrites_files_in_place(tmp_path: Path, capsys):
    a, b = tmp_path / "a.llms", tmp_path / "b.llms"
    a.write_text(MESSY)
    b.write_text(CLEAN)
    assert main(["fmt", str(a), str(b)]) == 0
    assert a.read_text() == CLEAN and b.read_text() == CLEAN
    assert capsys.readouterr().out == f"reformatted {a}\n"


def test_fmt_check_changes_nothing(tmp_path: Path, capsys):
    a = tmp_path / "a.llms"
    a.write_text(MESSY)
    assert main(["fmt", "--check", str(a)]) == 1
    assert a.read_text() == MESSY
    assert capsys.readouterr().err == f"would reformat {a}\n"
    a.write_text(CLEAN)
    assert main(["fmt", "--check", str(a)]) == 0


def test_fmt_reports_syntax_errors_and_bad_arguments(tmp_path: Path, capsys):
    a = tmp_path / "a.llms"
    a.write_text("model llama {\n")
    assert main(["fmt", str(a)]) == 1
    err = capsys.readouterr().err
    assert "error: unclosed `{`" in err and f"--> {a}:1:13" in err
    assert a.read_text() == "model llama {\n"
    assert main(["fmt", str(tmp_path / "a.json")]) == 1
    assert main(["fmt"]) == 1
    assert main(["fmt", str(tmp_path / "missing.llms")]) == 1
