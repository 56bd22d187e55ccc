"""Which plug-in modules may be imported: naming ``module:Class`` in a config runs that module's code.

Importing a Python module runs its top-level code, so a config (or a stored
run) that names a plug-in would run code nobody reviewed. redqueen imports a
plug-in module only when the user allowed it:

* ``--allow-plugin MODULE`` on ``run``, ``sweep``, ``resume`` and ``theory``
  (repeatable; it is passed to pool workers in the environment variable
  :data:`ENV`), or
* ``allow = ["MODULE", ...]`` in the user's own ``plugins.toml``
  (``$XDG_CONFIG_HOME/redqueen/plugins.toml``, by default
  ``~/.config/redqueen/plugins.toml``), never in the experiment's config.

Allowing a package allows its submodules. scikit-learn (``sklearn``) is
allowed by default. Reading a store (``list``, ``show``, ``check``,
``report``, ``export``) never imports a plug-in, allowed or not.

An allowed module that raises, has a syntax error, or calls ``sys.exit()``
while being imported is refused with one line; its exit does not end the run.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

ENV = "REDQUEEN_ALLOW_PLUGINS"
#: modules that may be named without being allowed: well-known libraries whose import only defines things
DEFAULT_ALLOWED = ("sklearn",)


_reading = 0  # > 0 inside reading(): nothing may be imported as a plug-in, allowed or not


class PluginRefused(ValueError):
    """A plug-in that is not allowed, or whose import failed; the message is one line with the fix."""


def user_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "redqueen" / "plugins.toml"


def _from_user_file() -> list[str]:
    path = user_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise PluginRefused(f"{path}: cannot read the plug-in allow-list ({str(e).splitlines()[0][:120]}); "
                            'write it as allow = ["module", ...]') from None
    allow = data.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(m, str) for m in allow):
        raise PluginRefused(f'{path}: allow must be a list of module names, e.g. allow = ["mypkg.densities"]')
    return allow


def allowed() -> set[str]:
    """Modules (and packages) that may be imported as plug-ins now."""
    env = [m.strip() for m in os.environ.get(ENV, "").split(",") if m.strip()]
    return {*DEFAULT_ALLOWED, *env, *_from_user_file()}


def is_allowed(module: str, allow: Iterable[str]) -> bool:
    parts = module.split(".")
    return any(".".join(parts[:i]) in set(allow) for i in range(1, len(parts) + 1))


@contextmanager
def allowing(modules: Iterable[str]) -> Iterator[None]:
    """Allow ``modules`` in this process and the processes it starts, for the duration of the block."""
    modules = [m for m in modules if m]
    old = os.environ.get(ENV)
    if modules:
        os.environ[ENV] = ",".join([*([old] if old else []), *modules])
    try:
        yield
    finally:
        if modules:
            if old is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = old


@contextmanager
def reading() -> Iterator[None]:
    """Inside this block no plug-in is imported, allowed or not (the CLI reads stores inside it)."""
    global _reading
    _reading += 1
    try:
        yield
    finally:
        _reading -= 1


def import_plugin(module: str):
    """Import plug-in ``module`` if it is allowed; raises :class:`PluginRefused` with one line otherwise,
    or when its import raises, has a syntax error or calls ``sys.exit``."""
    if _reading:
        raise PluginRefused(f"plug-in module {module!r} is not imported while a store is read")
    if not is_allowed(module, allowed()):
        raise PluginRefused(
            f"plug-in module {module!r} is not allowed: naming it imports it and runs its code; if you trust it, "
            f"pass --allow-plugin {module.split('.')[0]} or add it to allow = [...] in {user_file()}")
    try:
        return importlib.import_module(module)
    except SyntaxError as e:
        raise PluginRefused(f"plug-in module {module!r} has a syntax error ({e.filename}, line {e.lineno}: {e.msg}); "
                            "fix the module") from None
    except ImportError as e:
        raise PluginRefused(f"plug-in module {module!r} cannot be imported ({e}); install it or fix the name") from None
    except SystemExit as e:
        raise PluginRefused(f"plug-in module {module!r} called sys.exit({e.code!r}) while being imported; "
                            "a plug-in module must only define its class") from None
    except Exception as e:
        msg = str(e).splitlines()[0][:200] if str(e) else ""
        raise PluginRefused(f"plug-in module {module!r} raised {type(e).__name__} while being imported"
                            f"{': ' + msg if msg else ''}; fix the module") from None
