"""Params, `-D` overrides and sweep points."""

from __future__ import annotations

import pytest

from llmsim.diagnostics import CompileError
from llmsim.lang.params import parse_define

HEAD = """\
use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
param tp   = 2
param rate = 4/s
param half = 16 / tp
model llama { catalog = "Llama-3.1-8B" }
pool main { model = llama  hardware = h100  tp = tp  instances = half }
workload chat { requests = 10  arrival = poisson(rate = rate)  lengths = dataset("sharegpt") }
"""


def errors(compile_text, text: str, **kw) -> list[str]:
    with pytest.raises(CompileError) as info:
        compile_text(text, **kw)
    return [d.render() for d in info.value.diagnostics]


def test_params_take_their_defaults_and_feed_arithmetic(compile_text):
    spec = compile_text(HEAD)
    pool = spec.pools["main"]
    assert (pool.tp, pool.instances) == (2, 8)
    assert spec.workloads["chat"].arrival.rate_per_s == 4
    assert {n: (p.value, p.origin) for n, p in spec.params.items()} == {
        "tp": ("2", "default"),
        "rate": ("4/s", "default"),
        "half": ("16 / tp", "default"),
    }


def test_defines_override_defaults_and_later_params_follow(compile_text):
    spec = compile_text(HEAD, defines=["tp=4", "rate=8/s"])
    assert (spec.pools["main"].tp, spec.pools["main"].instances) == (4, 4)
    assert spec.workloads["chat"].arrival.rate_per_s == 8
    assert spec.params["tp"].origin == "-D"


def test_unknown_define_suggests_declared_params(compile_text):
    (text,) = errors(compile_text, HEAD, defines=["tpp=4"])
    assert text == (
        "error: unknown param `tpp`\n"
        " --> <command line>:1:4\n"
        "  |\n"
        "1 | -D tpp=4\n"
        "  |    ^^^ no such param\n"
        "  = help: did you mean `tp`?"
    )


def test_bad_define_values_point_into_the_argument(compile_text):
    (text,) = errors(compile_text, HEAD, defines=["rate=8Gbs"])
    assert "--> <command line>:1:9" in text and "did you mean `8GB/s` or `8Gb/s`?" in text
    division, low = errors(compile_text, HEAD, defines=["tp=0"])  # `half = 16 / tp` divides by it
    assert "division by zero" in division and "`tp` must be at least 1" in low
    assert "--> <command line>:1:7" in division and "--> <command line>:1:7" in low


@pytest.mark.parametrize("arg", ["tp", "=4", "t p=4", "tp="])
def test_malformed_defines_are_diagnostics(arg: str):
    with pytest.raises(CompileError) as info:
        parse_define(arg)
    (d,) = info.value.diagnostics
    assert d.span is not None and d.span.path == "<command line>"


SWEEP = HEAD + """\
sweep {
  tp = [1, 2, 4]
  zip {
    rate = [2/s, 8/s]
  }
}
"""


def test_sweep_points_are_a_product_first_axis_slowest(compile_text):
    spec = compile_text(SWEEP)
    assert spec.sweep is not None
    assert spec.sweep.points() == [
        {"tp": "1", "rate": "2/s"},
        {"tp": "1", "rate": "8/s"},
        {"tp": "2", "rate": "2/s"},
        {"tp": "2", "rate": "8/s"},
        {"tp": "4", "rate": "2/s"},
        {"tp": "4", "rate": "8/s"},
    ]
    at = compile_text(SWEEP, point=5)
    assert (at.pools["main"].tp, at.pools["main"].instances) == (4, 4)
    assert at.workloads["chat"].arrival.rate_per_s == 8
    assert at.params["tp"].origin == "sweep" and at.point == 5


def test_zip_groups_advance_together(compile_text):
    text = HEAD + "sweep { zip { tp = [1, 2]  rate = [1/s, 2/s] } }\n"
    spec = compile_text(text)
    assert spec.sweep.points() == [{"tp": "1", "rate": "1/s"}, {"tp": "2", "rate": "2/s"}]


def test_a_swept_param_cannot_be_defined(compile_text):
    (text,) = errors(compile_text, SWEEP, defines=["tp=2"])
    assert "param `tp` is swept" in text


def test_too_many_points(compile_text):
    values = ", ".join(str(i + 1) for i in range(101))
    text = HEAD + f"sweep {{ tp = [{values}]  rate = [{', '.join(f'{i + 1}/s' for i in range(100))}] }}\n"
    assert any("10100 points, more than 10000" in e for e in errors(compile_text, text))
