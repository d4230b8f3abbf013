"""Where the project's files live, and how they are written so that no reader sees half a file.

A leaf of the package: every layer may import it, and it imports none of them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def cache_folder() -> Path:
    """The decoded-data cache folder: ``$VGGREPRO_CACHE``, else ``~/.cache/vggrepro``."""
    return Path(os.environ.get("VGGREPRO_CACHE") or Path.home() / ".cache" / "vggrepro")


def project_root(start: Path | None = None) -> Path:
    """The checkout the package is used from: the first of ``start`` (default: the working
    folder) and its parents that holds the book's ``_config.yml`` and a ``results`` folder;
    ``start`` itself when none does (an installed package used elsewhere)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "_config.yml").is_file() and (folder / "results").is_dir():
            return folder
    return start


@contextmanager
def atomic_write(path: Path | str, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; when the block ends without an error,
    flush it to disk (fsync), make it readable by all and rename it over ``path``, so that a
    reader sees the old file or the new one, never half of one. On an error it is removed.
    Its name is ``.<name>.<random>.tmp``, which ``vggrepro.engine.data`` looks for."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0o600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
