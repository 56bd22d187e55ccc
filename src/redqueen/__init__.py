"""redqueen: model collapse as population genetics.

The names most users need, importable from the top level (loaded on first use
so that ``import redqueen`` stays quick)::

    import redqueen
    exp = redqueen.load("examples/zipf_wright_fisher.toml")
    result = redqueen.run_experiment(exp, store=redqueen.Store("redqueen-runs"))
    result.trajectory("replace", "heterozygosity")   # (replicates, generations + 1)
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "load": "redqueen.runtime.config",
    "validate": "redqueen.runtime.config",
    "ConfigError": "redqueen.runtime.config",
    "Experiment": "redqueen.runtime.config",
    "run_experiment": "redqueen.runtime.runner",
    "run_experiments": "redqueen.runtime.runner",
    "RunResult": "redqueen.runtime.runner",
    "Store": "redqueen.runtime.store",
    "write_report": "redqueen.report",
    "Lineage": "redqueen.loop",
    "GenerationRecord": "redqueen.loop",
    "Counts": "redqueen.data",
    "Points": "redqueen.data",
    "Sequences": "redqueen.data",
    "run_audit": "redqueen.audit",
    "AuditOptions": "redqueen.audit",
}
_MODULES = ("data", "worlds", "models", "loop", "metrics", "theory", "runtime", "report", "evolve", "audit", "io",
            "plot", "frames", "testing")

__all__ = sorted(_EXPORTS) + list(_MODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = import_module(f"redqueen.{name}")
    else:
        raise AttributeError(f"module 'redqueen' has no attribute {name!r}")
    globals()[name] = value
    return value
