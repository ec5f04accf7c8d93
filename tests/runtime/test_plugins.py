"""Third-party policies: a tiny installed distribution declares a router, a scheduler and an eviction
policy as entry points; llmsim finds them by name, from Python and from a spec."""

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from llmsim.cli.llmsimc import main
from llmsim.diagnostics import UserError
from llmsim.runtime import Workload, simulate
from llmsim.runtime.eviction import EVICTIONS
from llmsim.runtime.router import ROUTERS
from llmsim.runtime.scheduler import SCHEDULERS

from .rt_helpers import cluster, instance

PLUGIN = '''\
"""A third-party package with llmsim policies."""

from llmsim.runtime import Router
from llmsim.runtime.eviction import EvictionPolicy
from llmsim.runtime.scheduler import VLLMScheduler


class LastInstance(Router):
    """Everything to the last instance."""

    def choose(self, request, instances):
        return len(instances) - 1


class Renamed(VLLMScheduler):
    """vLLM's scheduler under another name."""


class Newest(EvictionPolicy):
    def victim(self, entries):
        return next(reversed(entries))
'''

ENTRY_POINTS = """\
[llmsim.routers]
last_instance = llmsim_test_plugin:LastInstance

[llmsim.schedulers]
renamed_vllm = llmsim_test_plugin:Renamed

[llmsim.eviction]
newest = llmsim_test_plugin:Newest
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`llmsim_test_plugin` installed into a folder on sys.path, as pip would, and fresh registries
    that have not looked at entry points yet (restored afterwards)."""
    site = tmp_path / "site"
    (site / "llmsim_test_plugin").mkdir(parents=True)
    (site / "llmsim_test_plugin" / "__init__.py").write_text(PLUGIN)
    info = site / "llmsim_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: llmsim-test-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    for registry in (ROUTERS, SCHEDULERS, EVICTIONS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
        monkeypatch.setattr(registry, "_loaded_plugins", False)
    return site


def test_entry_points_are_found_by_name(installed_plugin):
    assert ROUTERS.get("last_instance").__name__ == "LastInstance"
    assert SCHEDULERS.get("renamed_vllm").__name__ == "Renamed"
    assert EVICTIONS.get("newest").__name__ == "Newest"
    assert "last_instance" in ROUTERS.names()


def test_an_installed_router_runs(installed_plugin):
    wl = Workload.from_arrays([10] * 6, [2] * 6, np.arange(6) * 1_000)
    result = simulate(cluster(instance(0), instance(1), instance(2), policy="last_instance"), [(wl, "r")])
    assert result.instance.tolist() == [2] * 6


def test_an_unknown_policy_suggests_the_registered_ones(installed_plugin):
    with pytest.raises(UserError) as info:
        ROUTERS.get("last_instanse")
    assert info.value.message == "unknown router policy `last_instanse`"
    assert "last_instance" in str(info.value.help)


def test_a_spec_names_installed_plugins(installed_plugin, tmp_path: Path, capsys):
    spec = tmp_path / "plugin.llms"
    spec.write_text(textwrap.dedent("""\
        use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
        model llama { catalog = "Llama-3.1-8B" }
        pool main {
          model = llama  hardware = h100  instances = 2
          scheduler { policy = renamed_vllm }
        }
        router front { policy = last_instance  targets = [main] }
        workload chat { requests = 5  arrival = poisson(rate = 2/s)  prompt = fixed(100)  output = fixed(4) }
        """))
    out = tmp_path / "out.json"
    assert main([str(spec), "--json", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["requests"]["completed"] == 5
    spec.write_text(spec.read_text().replace("last_instance", "last_instanse"))
    assert main([str(spec), "--check"]) == 1
    err = capsys.readouterr().err
    assert "unknown router policy `last_instanse`" in err and "did you mean `last_instance`?" in err
