"""llmsim's benchmark harness: speed and scale of the runtime, side by side with Vidur.

Run it from the repository root with `python -m bench` (or `llmsim bench`); `--help` lists the
options. Every case runs in its own subprocess so that its wall time and peak memory are its own:

- `cases.py`: the standard cases and the `.llms` specs they generate;
- `worker.py`: runs one llmsim case through the product path (`llmsim.cache.compile_file`, which is
  load_spec and compile_spec or their cached result, build_workload, simulate) and reports
  timings, counts and progress, also when it times out;
- `calibrate.py`: the arrival rate "near saturation", from a short closed-loop calibration run;
- `vidur.py`: Vidur (PyPI `vidur`) in its own virtual environment, run offline as a subprocess;
- `measure.py`: subprocesses with a timeout and their own peak RSS (`wait4`);
- `regress.py`: comparison with the committed baseline (`baseline.json`);
- `profiling.py`: cProfile (and py-spy when installed) on one case;
- `cli.py`: the command line, the table and the JSON output.

Nothing here is imported by llmsim itself; `llmsim bench` only forwards to `bench.cli`.
"""
