"""Pickle for compiled specs: a spec is data, so loading one may build llmsim's own classes and a short
list of plain data types, and never calls anything else (no `os.system`, no `getattr` chains).

A module may name pure functions that compiled objects hold (a coordinate transform) in its
`__safepickle__` tuple; no other function loads. `dumps` writes bound methods of llmsim objects (a
cost model holds its tables' lookup methods) as `(_bound_method, (obj, name))` instead of pickle's
`getattr`, which the loader does not allow.
"""

from __future__ import annotations

import io
import pickle
import sys
import types
from collections.abc import Iterable
from typing import Any

# (module, name) pairs outside llmsim that a compiled spec may hold: plain data, nothing that runs code.
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    [
        *(("builtins", n) for n in ("set", "frozenset", "complex", "slice", "range", "bytearray", "list",
                                    "dict", "tuple", "int", "float", "str", "bool", "bytes")),
        ("fractions", "Fraction"),
        ("decimal", "Decimal"),
        ("collections", "OrderedDict"),
        ("pathlib", "PosixPath"),
        ("pathlib", "PurePosixPath"),
        ("pathlib", "WindowsPath"),
        ("pathlib", "PureWindowsPath"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        *((m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")),
        *((m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")),
        *(("numpy.dtypes", n) for n in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "BoolDType")),
    ]
)


class UnsafePickle(pickle.UnpicklingError):
    """The data names something a compiled spec never holds."""


def _bound_method(obj: object, name: str) -> Any:
    """`obj.name`, for a public method of an llmsim class (what `dumps` writes bound methods as)."""
    cls = type(obj)
    if name.startswith("_") or not cls.__module__.startswith("llmsim.") or \
            not isinstance(getattr(cls, name, None), types.FunctionType):
        raise UnsafePickle(f"not a public method of an llmsim class: {cls.__qualname__}.{name}")
    return getattr(obj, name)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.MethodType) and type(obj.__self__).__module__.startswith("llmsim."):
            return _bound_method, (obj.__self__, obj.__func__.__name__)
        return NotImplemented


def dumps(obj: object) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, packages: tuple[str, ...]) -> None:
        super().__init__(file)
        self.packages = packages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        if module == __name__ and name == "_bound_method":
            return _bound_method
        if module.split(".", 1)[0] in self.packages and "." not in name:
            obj = super().find_class(module, name)
            # a class defined in that module (not a module or class it merely imported), or a function
            # the module lists in `__safepickle__` (pure functions that cost models hold)
            if isinstance(obj, type) and obj.__module__ == module:
                return obj
            if name in getattr(sys.modules[module], "__safepickle__", ()):
                return obj
        raise UnsafePickle(f"a compiled spec does not hold `{module}.{name}`")


def loads(data: bytes, packages: Iterable[str] = ("llmsim",)) -> Any:
    """Unpickle `data`, allowing the classes of `packages` and the plain data types in ALLOWED."""
    return _Unpickler(io.BytesIO(data), tuple(packages)).load()
