"""One typed helper that wraps any store: every cross-cutting concern is an :class:`Interceptor`.

A wrapper built by :func:`wrap_store` has exactly the public coroutine methods of the store's
Protocol (discovered from the Protocol class, so a method added to ``stores.py`` is wrapped
without touching this package) and routes each call through one interceptor::

    interceptor(store_name, method_name, call)   # call() performs the real store call

Stacking is done by :class:`InterceptorChain` rather than by wrapping wrappers, so a store call
costs one extra object hop however many concerns are enabled. There is no ``__getattr__``
forwarding: anything that is not a Protocol method does not exist on the wrapper, which keeps
the type checker and the drift test honest.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

__all__ = [
    "Call",
    "Interceptor",
    "InterceptorChain",
    "protocol_methods",
    "store_name_of",
    "wrap_store",
]

T = TypeVar("T")
S = TypeVar("S")

Call = Callable[[], Awaitable[T]]
"""A zero-argument coroutine factory performing one store call; calling it again retries."""


class Interceptor(Protocol):
    """Runs around every store call; must await ``call()`` (possibly several times) or raise."""

    async def __call__(self, store: str, method: str, call: Call[T]) -> T: ...


class InterceptorChain:
    """Several interceptors applied outermost first, as one interceptor."""

    __slots__ = ("_interceptors",)

    def __init__(self, interceptors: Sequence[Interceptor]) -> None:
        self._interceptors = tuple(interceptors)

    @property
    def interceptors(self) -> tuple[Interceptor, ...]:
        return self._interceptors

    async def __call__(self, store: str, method: str, call: Call[T]) -> T:
        for interceptor in reversed(self._interceptors):
            call = functools.partial(interceptor, store, method, call)
        return await call()


def protocol_methods(protocol: type) -> dict[str, Callable[..., Any]]:
    """The public coroutine methods a store Protocol declares, by name (sorted)."""
    methods = {
        name: member
        for name, member in inspect.getmembers(protocol, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    if not methods:
        raise TypeError(f"{protocol.__name__} declares no public coroutine methods")
    return dict(sorted(methods.items()))


def store_name_of(protocol: type) -> str:
    """``ClusterMetadataStore`` -> ``cluster_metadata``: the name metrics and faults use."""
    stem = protocol.__name__.removesuffix("Store")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", stem).lower()


def _forwarding_method(name: str, template: Callable[..., Any]) -> Callable[..., Any]:
    async def method(self: _InterceptedStore, *args: Any, **kwargs: Any) -> Any:
        target = getattr(self._inner, name)
        return await self._interceptor(self._store_name, name, lambda: target(*args, **kwargs))

    # Keeps the Protocol's name, docstring and signature (inspect follows __wrapped__).
    functools.update_wrapper(method, template)
    return method


class _InterceptedStore:
    __slots__ = ("_inner", "_interceptor", "_store_name")

    def __init__(self, inner: object, interceptor: Interceptor, store_name: str) -> None:
        self._inner = inner
        self._interceptor = interceptor
        self._store_name = store_name

    @property
    def wrapped(self) -> object:
        """The store underneath (for tests and diagnostics)."""
        return self._inner

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._store_name} around {self._inner!r}>"


@functools.cache
def _wrapper_class(protocol: type) -> type[_InterceptedStore]:
    namespace: dict[str, Any] = {"__slots__": (), "__doc__": protocol.__doc__}
    for name, template in protocol_methods(protocol).items():
        namespace[name] = _forwarding_method(name, template)
    cls = type(f"Intercepted{protocol.__name__}", (_InterceptedStore,), namespace)
    cls.__module__ = __name__
    return cls


def wrap_store(
    store: S, protocol: type, interceptor: Interceptor, *, store_name: str | None = None
) -> S:
    """A new object satisfying ``protocol`` whose every method runs through ``interceptor``.

    ``protocol`` is the Protocol class ``store`` implements (typed as a plain ``type`` because
    mypy refuses a Protocol where ``type[S]`` is expected); ``store_name`` defaults to the
    Protocol's name in snake case without ``Store``.
    """
    missing = [
        name for name in protocol_methods(protocol) if not callable(getattr(store, name, None))
    ]
    if missing:
        raise TypeError(f"{store!r} does not implement {protocol.__name__} (missing {missing})")
    wrapper = _wrapper_class(protocol)(store, interceptor, store_name or store_name_of(protocol))
    return wrapper  # type: ignore[return-value]  # built from the Protocol's own methods
