"""Cheap botocore sessions: a new session per call, sharing only what is safe to share.

``botocore.session.Session()`` costs tens of milliseconds, nearly all of it spent
re-reading the same JSON data (endpoints, service models) and registering the same
~120 built-in event handlers, inspecting each one's signature. Neither depends on the
session. :func:`new_session` builds a normal, independent session but

- gives it a data loader shared by every session made here with the same
  ``data_path`` (a ``Loader`` only caches parsed files by name; a race loads a file
  twice, harmlessly);
- gives it a copy of a template event emitter that already holds botocore's built-in
  handlers (``copy.copy`` of an emitter is what botocore itself does for every client;
  the template is built once, under a lock, and never changed after).

Everything else (configuration, credentials, event registrations made later, clients)
belongs to the new session alone, so callers may use or change it as they would any
botocore session.
"""

from __future__ import annotations

import copy
import threading

import botocore.credentials
import botocore.handlers
import botocore.hooks
import botocore.loaders
import botocore.session

__all__ = ["new_session"]

_lock = threading.Lock()
_template: botocore.hooks.HierarchicalEmitter | None = None
_loaders: dict[str | None, botocore.loaders.Loader] = {}


def _builtin_emitter() -> botocore.hooks.HierarchicalEmitter:
    # What Session.__init__ does with include_builtin_handlers=True, through the same
    # aliasing front; not a throwaway Session, whose initializers would leave user
    # handlers in the template (and every session made from it would get them twice).
    emitter = botocore.hooks.HierarchicalEmitter()
    events = botocore.hooks.EventAliaser(emitter)
    for spec in botocore.handlers.BUILTIN_HANDLERS:
        if len(spec) == 2:
            events.register(*spec)
        elif spec[2] is botocore.handlers.REGISTER_FIRST:
            events.register_first(spec[0], spec[1])
        elif spec[2] is botocore.handlers.REGISTER_LAST:
            events.register_last(spec[0], spec[1])
    return emitter


def _template_emitter() -> botocore.hooks.HierarchicalEmitter:
    global _template  # noqa: PLW0603 - built once, on first use, never at import
    template = _template
    if template is None:
        with _lock:
            if _template is None:
                _template = _builtin_emitter()
            template = _template
    return template


def _loader(data_path: str | None) -> botocore.loaders.Loader:
    loader = _loaders.get(data_path)
    if loader is None:
        with _lock:
            loader = _loaders.get(data_path)
            if loader is None:
                loader = _loaders[data_path] = botocore.loaders.create_loader(data_path)
    return loader


def new_session(provider: botocore.credentials.CredentialProvider | None = None) -> botocore.session.Session:
    """Return a new botocore session, as ``botocore.session.Session()`` would, built cheaply.

    With *provider*, the session's credential chain is that provider alone (botocore's
    default chain is then neither built nor consulted: no silent fallback to other keys).
    """
    session = botocore.session.Session(
        event_hooks=copy.copy(_template_emitter()), include_builtin_handlers=False
    )
    session.register_component("data_loader", _loader(session.get_config_variable("data_path")))
    if provider is not None:
        session.register_component("credential_provider", botocore.credentials.CredentialResolver([provider]))
    return session
