"""`llmsim/safepickle.py`: a compiled spec loads as data; nothing else is built or called."""

from __future__ import annotations

import os
import pickle
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from llmsim import safepickle
from llmsim.diagnostics import SourceFile, Span


def test_round_trip_of_plain_data_numpy_and_llmsim_classes():
    value = {"a": (1, 2.5, Fraction(1, 3)), "p": Path("x/y"), "arr": np.arange(5.0), "s": frozenset({1}),
             "span": Span(SourceFile("f.llms", "x = 1\n"), 1, 2, 1, 3)}
    out = safepickle.loads(safepickle.dumps(value))
    assert out["a"] == value["a"] and out["p"] == value["p"] and out["s"] == value["s"]
    assert np.array_equal(out["arr"], value["arr"])
    assert out["span"] == value["span"]


def test_bound_methods_of_llmsim_objects_survive():
    from llmsim.runtime.registry import Registry

    reg = Registry("router", "llmsim.nothing")
    method = safepickle.loads(safepickle.dumps(reg.register))
    assert method.__self__.kind == "router" and method.__func__ is Registry.register


class _System:
    def __reduce__(self):
        return (os.system, ("true",))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("payload", [
    _System(),
    _Eval(),
    pickle.dumps(getattr),  # not a class: a builtin function
])
def test_refuses_what_a_compiled_spec_never_holds(payload):
    data = payload if isinstance(payload, bytes) else pickle.dumps(payload)
    with pytest.raises(safepickle.UnsafePickle):
        safepickle.loads(data)


@pytest.mark.parametrize("module, name", [
    ("llmsim.cache", "os"),  # a module llmsim imports, reached through an llmsim module
    ("llmsim.cache", "compile_file"),  # an llmsim function, not a class
    ("llmsim.lang.check", "Path"),  # a class llmsim imports but does not define
    ("llmsim.safepickle", "_bound_method.__globals__"),
])
def test_refuses_names_reached_through_llmsim_modules(module: str, name: str):
    data = (b"\x80\x04c" + module.encode() + b"\n" + name.encode() + b"\n.")
    with pytest.raises(safepickle.UnsafePickle):
        safepickle.loads(data)


def test_bound_method_helper_refuses_private_names():
    from llmsim.runtime.registry import Registry

    with pytest.raises(safepickle.UnsafePickle):
        safepickle._bound_method(Registry("x", "y"), "_load_plugins")
