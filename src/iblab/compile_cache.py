"""JAX's persistent compilation cache, on by default in the user's cache directory.

A run's program is compiled once per shape; with the cache, a later process (another
`iblab run` of the same shape) loads it from disk instead of compiling again.
IBLAB_COMPILATION_CACHE=0 turns the cache off; a path there puts it elsewhere. The cache is
switched on by the first training call (or by the command line), never at import, and only
when JAX has no cache directory set already.
"""

from __future__ import annotations

import os
from pathlib import Path

_OFF = ("0", "off", "false", "no")


def cache_dir() -> Path | None:
    """Where the cache lives.

    IBLAB_COMPILATION_CACHE when it names a path, else iblab/jax under $XDG_CACHE_HOME
    (~/.cache when that is unset).

    Returns:
        The directory, or None when IBLAB_COMPILATION_CACHE turns the cache off (0, off,
            false or no).
    """
    setting = os.environ.get("IBLAB_COMPILATION_CACHE", "").strip()
    if setting.lower() in _OFF:
        return None
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "iblab" / "jax"


def enable() -> Path | None:
    """Switch the cache on (idempotent).

    Returns:
        The directory used, or None when the cache is off, its directory cannot be created,
            or JAX already has a cache directory of its own.
    """
    import jax

    path = cache_dir()
    current = jax.config.jax_compilation_cache_dir
    if path is None or (current is not None and current != str(path)):
        return None
    if current is None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None  # a read-only home: run without the cache
        jax.config.update("jax_compilation_cache_dir", str(path))
        # iblab's programs compile in about a second; cache them all.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return path
