"""Where a result came from: iblab's version, its git commit when imported from a checkout,
and the versions of the libraries that compute its numbers.

Reading them imports none of those libraries (importlib.metadata reads the installed
versions) and never raises: what cannot be found is None.
"""

from __future__ import annotations

import functools
import re
import subprocess
from importlib import metadata
from pathlib import Path

LIBRARIES = ("jax", "numpy", "scipy")
_HASH = re.compile(r"^[0-9a-f]{40}$")


@functools.cache
def versions() -> dict[str, str | None]:
    """{'iblab': version, 'commit': git commit or None, 'jax': ..., 'numpy': ...,
    'scipy': ...}; computed once per process."""
    from iblab import __version__

    out: dict[str, str | None] = {"iblab": __version__, "commit": git_commit()}
    return out | {name: library_version(name) for name in LIBRARIES}


def library_version(name: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit(source: str | Path | None = None) -> str | None:
    """The commit (40 hex digits) checked out where iblab's package (or `source`, a
    directory) lives, with '+dirty' when tracked files under it differ from that commit;
    None when it is not tracked by a git checkout (an installed wheel) or git cannot say."""
    where = Path(source) if source is not None else Path(__file__).parent
    # The package must be tracked by the checkout: a wheel installed inside some other
    # repository's tree (a virtual environment there) does not take that repository's commit.
    if _git(where, "ls-files", "--error-unmatch", "--", ".") is None:
        return None
    head = _git(where, "rev-parse", "HEAD")
    if head is None or not _HASH.match(head):
        return None
    clean = _git(where, "diff", "--quiet", "HEAD", "--", ".")
    return head if clean is not None else head + "+dirty"


def _git(where: Path, *args: str) -> str | None:
    """git's stdout (stripped) when it exits with 0 in `where`; None otherwise, or when git
    is missing, hangs (5 s) or `where` is not a directory."""
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
