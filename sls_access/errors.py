"""The exceptions of sls-access: one root, one subclass per way resolution can fail.

Every message says what to fix and never carries a secret: exceptions end up in CI
logs, terminals and error trackers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, TypeVar

from sls_access._public import publish

if TYPE_CHECKING:
    from sls_access._resolution import Resolution
    from sls_access._target import Target

__all__ = [
    "AccessRoleError",
    "ConfigError",
    "DashboardError",
    "NoCredentialsError",
    "SlsAccessError",
]


class SlsAccessError(Exception):
    """The root of every error sls-access raises on purpose.

    :ivar resolution: the :class:`~sls_access.Resolution` (with its trail) that ended in
        this error, when the error came out of the chain.
    :ivar plugin: the name of the plugin the error came from, when it came from one.
    """

    resolution: Resolution | None = None
    plugin: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments: rebuild from args and attributes instead.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def _copy(self, args: tuple[object, ...], **attributes: object) -> Self:
        return _rebuild(type(self), args, {**self.__dict__, **attributes})

    def from_plugin(self, plugin: str, *, mention: bool = True) -> Self:
        """Return a copy naming *plugin* (``… (plugin 'name')``), or this error if it names one already.

        Type and attributes are kept. Errors are never changed once raised: sls-access
        raises the copy, from the original. With *mention* false (a built-in plugin, which
        users did not install) only :attr:`plugin` is set; the message is left as it is.
        """
        if self.plugin is not None:
            return self
        head, *rest = self.args or ("",)
        if mention:
            head = f"{head} (plugin {plugin!r})"
        return self._copy((head, *rest), plugin=plugin)

    def redacted(self) -> Self:
        """Return a copy whose message has every secret-bearing value redacted, or this error if none.

        Every error that leaves the chain passes through here: a source may quote a
        response body (botocore's parser errors do) holding a secret key or token.
        """
        from sls_access import _redact  # noqa: PLC0415 - its patterns cost import time

        args = tuple(_redact.redact(arg) if isinstance(arg, str) else arg for arg in self.args)
        return self if args == self.args else self._copy(args)

    def with_resolution(self, resolution: Resolution) -> Self:
        """Return a copy that carries *resolution* (the trail that ended in this error)."""
        return self._copy(self.args, resolution=resolution)


_E = TypeVar("_E", bound=SlsAccessError)


def _rebuild(cls: type[_E], args: tuple[object, ...], state: dict[str, object]) -> _E:
    error = Exception.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(SlsAccessError, ValueError):
    """A bad option, target name, environment variable or dashboard file.

    :ivar path: the file at fault, when there is one.
    :ivar key: the dotted key (or option/variable name) at fault, when there is one.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ": ".join(part for part in (path, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class NoCredentialsError(SlsAccessError):
    """No source in the chain applied to the target; the message is the trail.

    :ivar resolution: the :class:`~sls_access.Resolution` with every source tried.
    """

    resolution: Resolution

    def __init__(self, resolution: Resolution) -> None:
        self.resolution = resolution
        lines = [f"no AWS credentials for {resolution.target}; sources tried:"]
        lines.extend(f"  {entry}" for entry in resolution.trail)
        super().__init__("\n".join(lines))


class AccessRoleError(SlsAccessError):
    """A dashboard link applies to the target but its access role could not be entered.

    Raised instead of falling back to local keys (fail closed).

    :ivar target: the target being resolved.
    :ivar deployment_profile: the name of the linked deployment profile.
    :ivar role_arn: the access role that could not be assumed.
    :ivar code: the AWS error code, when STS answered with one.
    :ivar reason: what went wrong, without the role and target the message starts with.
    """

    def __init__(
        self,
        message: str,
        *,
        target: Target,
        deployment_profile: str,
        role_arn: str,
        code: str | None = None,
    ) -> None:
        self.target = target
        self.deployment_profile = deployment_profile
        self.role_arn = role_arn
        self.code = code
        self.reason = message
        super().__init__(
            f"cannot assume access role {role_arn} of deployment profile {deployment_profile!r} for {target}: {message}"
        )


class DashboardError(SlsAccessError):
    """The dashboard service failed, refused the access key, or could not be reached.

    :ivar status: the HTTP status, when the service answered.
    :ivar url: the URL asked (without credentials).
    """

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


# Shown, documented and pickled under the path users import them from, ``sls_access`` (the table: _public).
publish(globals())
