"""Which store a ``--state`` URL names, and where the default state lives.

``sqlite:///ABS/PATH`` and ``postgresql://…`` open a
:class:`~sls_access.service.store.sql.SqlStore` (the ``server`` extra);
:func:`default_state_url` is ``sqlite:///$XDG_STATE_HOME/sls-access/service.db``
(``~/.local/state`` when ``XDG_STATE_HOME`` is unset), so that ``keys create`` and ``serve``
with no ``--state`` share one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sls_access.errors import ConfigError

if TYPE_CHECKING:
    from sls_access.service.store.base import Store

__all__ = ["ENV", "choose_state", "default_state_url", "open_store", "state_url"]

ENV = "SLS_ACCESS_STATE"


def default_state_url(environ: Mapping[str, str] | None = None) -> str:
    """Return the default state: a SQLite file under ``$XDG_STATE_HOME/sls-access``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return f"sqlite:///{root / 'sls-access' / 'service.db'}"


def state_url(given: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Return the state URL in force: *given* (``--state``), else ``SLS_ACCESS_STATE``, else the default."""
    env = os.environ if environ is None else environ
    return given or env.get(ENV) or default_state_url(env)


def choose_state(
    given: str | None, *, dashboard: str | os.PathLike[str] | None, keys: str | os.PathLike[str] | None
) -> str | None:
    """Return the state URL a command uses, or None for the key file and dashboard file of earlier releases.

    *given* is ``--state`` (or ``SLS_ACCESS_STATE``). Without it, a dashboard file with a
    key file (``--keys``, or ``<dashboard stem>.keys.json`` beside it) keeps working as
    before; anything else uses :func:`default_state_url`.
    """
    if given:
        return given
    if dashboard is not None:
        from sls_access.service.keys import default_keys_path  # noqa: PLC0415 - light

        if keys is not None or default_keys_path(Path(dashboard).expanduser()).exists():
            return None
    return default_state_url()


def open_store(url: str, *, dashboard: str | os.PathLike[str] | None = None, migrate: bool = True) -> Store:
    """Open the store at *url*; with *dashboard*, that file is the source of truth for profiles and links.

    :raises ~sls_access.ConfigError: not a state URL, or the ``server`` extra is missing.
    :raises ~sls_access.service.store.base.StateUnavailableError: the database cannot be reached.
    """
    scheme = url.partition(":")[0].partition("+")[0]
    if scheme not in {"sqlite", "postgresql", "postgres"}:
        raise ConfigError("the state must be sqlite:///ABS/PATH or postgresql://...", key="state")
    if scheme == "postgres":
        url = "postgresql" + url[len("postgres") :]
    try:
        from sls_access.service.store.sql import SqlStore  # noqa: PLC0415 - the "server" extra
    except ImportError:
        from sls_access._install import install_hint  # noqa: PLC0415 - only for the message

        raise ConfigError(f"a SQL state needs the server extra: {install_hint('server')}") from None
    return SqlStore(url, managed_by_file=dashboard, migrate_schema=migrate)
