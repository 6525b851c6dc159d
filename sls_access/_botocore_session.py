"""Cheap botocore sessions: a new plain session per call, sharing only what botocore lets be shared.

``botocore.session.Session()`` costs tens of milliseconds, nearly all of it spent
re-reading the same JSON data (endpoints, service models) and registering the same
~120 built-in event handlers, inspecting each one's signature. Neither depends on the
session. :func:`new_session` builds a plain ``botocore.session.Session``, through its
public constructor and components only, but

- gives it a data loader shared by every session made here with the same
  ``data_path`` (``register_component("data_loader", ...)``; a ``Loader`` only caches
  parsed files by name; a race loads a file twice, harmlessly);
- gives it (the constructor's ``event_hooks``) a template event emitter that already
  holds botocore's built-in handlers (``botocore.handlers.BUILTIN_HANDLERS``), copied on
  write: the session reads the template until a handler is registered on it or removed
  from it, and then gets its own copy first (``copy.copy`` of an emitter is what botocore
  itself does for every client, and a client of the session gets such a copy either way).
  The template is built once, under a lock, and never changed after.

Everything else (configuration, its provider chains, the parse of the AWS config files,
credentials, event registrations made later, clients) belongs to the new session alone,
so callers may use or change it as they would any botocore session.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

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


class _CopyOnWrite(botocore.hooks.BaseEventHooks):
    """An emitter that is *template* until it is changed, and then a copy of it.

    Copying one (as botocore does for each client) copies what it is now.
    """

    def __init__(self, template: botocore.hooks.HierarchicalEmitter) -> None:
        self._emitter = template
        self._own = False

    def _writable(self) -> botocore.hooks.HierarchicalEmitter:
        if not self._own:
            self._emitter = copy.copy(self._emitter)
            self._own = True
        return self._emitter

    def emit(self, event_name: str, **kwargs: object) -> list[tuple[Any, Any]]:
        responses: list[tuple[Any, Any]] = self._emitter.emit(event_name, **kwargs)
        return responses

    def emit_until_response(self, event_name: str, **kwargs: object) -> tuple[Any, Any]:
        response: tuple[Any, Any] = self._emitter.emit_until_response(event_name, **kwargs)
        return response

    def register(
        self,
        event_name: str,
        handler: Callable[..., None],
        unique_id: str | None = None,
        unique_id_uses_count: bool = False,
    ) -> None:
        self._writable().register(event_name, handler, unique_id, unique_id_uses_count)

    def register_first(
        self,
        event_name: str,
        handler: Callable[..., None],
        unique_id: str | None = None,
        unique_id_uses_count: bool = False,
    ) -> None:
        self._writable().register_first(event_name, handler, unique_id, unique_id_uses_count)

    def register_last(
        self,
        event_name: str,
        handler: Callable[..., None],
        unique_id: str | None = None,
        unique_id_uses_count: bool = False,
    ) -> None:
        self._writable().register_last(event_name, handler, unique_id, unique_id_uses_count)

    def unregister(
        self,
        event_name: str,
        handler: Callable[..., None] | None = None,
        unique_id: str | None = None,
        unique_id_uses_count: bool = False,
    ) -> None:
        self._writable().unregister(event_name, handler, unique_id, unique_id_uses_count)

    def __copy__(self) -> botocore.hooks.HierarchicalEmitter:
        return copy.copy(self._emitter)


def new_session(provider: botocore.credentials.CredentialProvider | None = None) -> botocore.session.Session:
    """Return a new botocore session, as ``botocore.session.Session()`` would, built cheaply.

    With *provider*, the session's credential chain is that provider alone (botocore's
    default chain is then neither built nor consulted: no silent fallback to other keys).
    """
    session = botocore.session.Session(event_hooks=_CopyOnWrite(_template_emitter()), include_builtin_handlers=False)
    session.register_component("data_loader", _loader(session.get_config_variable("data_path")))
    if provider is not None:
        session.register_component("credential_provider", botocore.credentials.CredentialResolver([provider]))
    return session
