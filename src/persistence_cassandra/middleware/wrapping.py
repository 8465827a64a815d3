"""One typed helper that wraps any store: every cross-cutting concern is an :class:`Interceptor`.

A wrapper built by :func:`wrap_store` has exactly the public coroutine methods of the store's
Protocol (discovered from the Protocol class, so a method added to ``stores.py`` is wrapped
without touching this package) and routes each call through one interceptor::

    interceptor(store_name, method_name, call)   # call() performs the real store call

Stacking is done by :class:`InterceptorChain` rather than by wrapping wrappers. Because every
store call pays for the stack, an interceptor may also offer ``bind(store, method, inner)``
(:class:`BindingInterceptor`): it is called once per store method when the wrapper is built and
returns ``inner`` with the concern around it, so that per-call work (finding the method's
metrics, building a closure per layer) is done once. Interceptors without ``bind`` are adapted
to it through their ``__call__``; the two must behave alike. There is no ``__getattr__``
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
    "BindingInterceptor",
    "Call",
    "Interceptor",
    "InterceptorChain",
    "StoreCall",
    "bind_interceptor",
    "protocol_methods",
    "store_name_of",
    "wrap_store",
]

T = TypeVar("T")
S = TypeVar("S")

Call = Callable[[], Awaitable[T]]
"""A zero-argument coroutine factory performing one store call; calling it again retries."""


StoreCall = Callable[..., Awaitable[Any]]
"""A store method, or a store method with interceptors around it: same arguments, same result."""


class Interceptor(Protocol):
    """Runs around every store call; must await ``call()`` (possibly several times) or raise."""

    async def __call__(self, store: str, method: str, call: Call[T]) -> T: ...


class BindingInterceptor(Interceptor, Protocol):
    """An interceptor that can also be applied to one store method ahead of the calls."""

    def bind(self, store: str, method: str, inner: StoreCall) -> StoreCall:
        """``inner`` with this concern around it: what ``__call__`` does for each call of
        ``store.method``, with everything that does not depend on the call done here."""
        ...


def bind_interceptor(
    interceptor: Interceptor, store: str, method: str, inner: StoreCall
) -> StoreCall:
    """``interceptor`` applied to ``inner`` (by its ``bind`` if it has one)."""
    bind = getattr(interceptor, "bind", None)
    if bind is not None:
        bound: StoreCall = bind(store, method, inner)
        return bound

    async def intercepted(*args: Any, **kwargs: Any) -> Any:
        return await interceptor(store, method, lambda: inner(*args, **kwargs))

    return intercepted


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

    def bind(self, store: str, method: str, inner: StoreCall) -> StoreCall:
        for interceptor in reversed(self._interceptors):
            inner = bind_interceptor(interceptor, store, method, inner)
        return inner


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
        return await self._calls[name](*args, **kwargs)

    # Keeps the Protocol's name, docstring and signature (inspect follows __wrapped__).
    functools.update_wrapper(method, template)
    return method


class _InterceptedStore:
    __slots__ = ("_calls", "_inner", "_store_name")

    def __init__(
        self, inner: object, interceptor: Interceptor, store_name: str, methods: Sequence[str]
    ) -> None:
        self._inner = inner
        self._store_name = store_name
        self._calls: dict[str, StoreCall] = {
            name: bind_interceptor(interceptor, store_name, name, getattr(inner, name))
            for name in methods
        }

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
    wrapper = _wrapper_class(protocol)(
        store, interceptor, store_name or store_name_of(protocol), list(protocol_methods(protocol))
    )
    return wrapper  # type: ignore[return-value]  # built from the Protocol's own methods
