"""wrap_store: every Protocol method is wrapped (drift test), forwarded, and intercepted."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

import persistence_cassandra.stores as stores_module
from persistence_cassandra.errors import Unavailable
from persistence_cassandra.middleware import (
    InterceptorChain,
    protocol_methods,
    store_name_of,
    wrap_store,
)
from persistence_cassandra.stores import (
    ClusterMetadataStore,
    ExecutionStore,
    HistoryStore,
    MetadataStore,
    NexusEndpointStore,
    QueueStore,
    ShardStore,
    TaskScavenger,
    TaskStore,
    VisibilityStore,
)

PROTOCOLS = [
    ShardStore,
    ExecutionStore,
    HistoryStore,
    TaskStore,
    MetadataStore,
    ClusterMetadataStore,
    QueueStore,
    NexusEndpointStore,
    TaskScavenger,  # the optional capability: wrapped like the stores
    VisibilityStore,
]


def declared_methods() -> dict[str, set[str]]:
    """Async methods of every Protocol class in stores.py, read from the source itself."""
    tree = ast.parse(Path(inspect.getfile(stores_module)).read_text())
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            isinstance(base, ast.Name) and base.id == "Protocol" for base in node.bases
        ):
            found[node.name] = {
                item.name
                for item in node.body
                if isinstance(item, ast.AsyncFunctionDef) and not item.name.startswith("_")
            }
    return found


def fake_store(protocol: type) -> Any:
    """A fake whose every method returns what it was called with."""

    def method(name: str) -> Any:
        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            return (name, args, kwargs)

        return call

    namespace = {name: method(name) for name in protocol_methods(protocol)}
    return type(f"Fake{protocol.__name__}", (), namespace)()


class Recorder:
    def __init__(self, label: str = "", log: list[str] | None = None) -> None:
        self.label = label
        self.calls: list[tuple[str, str]] = []
        self.log = log if log is not None else []

    async def __call__(self, store: str, method: str, call: Any) -> Any:
        self.calls.append((store, method))
        self.log.append(f"{self.label}>")
        try:
            return await call()
        finally:
            self.log.append(f"<{self.label}")


def test_every_protocol_in_stores_is_covered_here():
    assert set(declared_methods()) == {p.__name__ for p in PROTOCOLS}


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_discovered_methods_match_the_source(protocol):
    assert set(protocol_methods(protocol)) == declared_methods()[protocol.__name__]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
async def test_every_method_is_wrapped_and_forwarded(protocol):
    recorder = Recorder()
    wrapped = wrap_store(fake_store(protocol), protocol, recorder)
    assert isinstance(wrapped, protocol)
    store_name = store_name_of(protocol)
    for name, template in protocol_methods(protocol).items():
        method = getattr(wrapped, name)
        assert inspect.iscoroutinefunction(method)
        # The wrapper shows the Protocol's own signature and docstring.
        expected = inspect.signature(template)
        assert list(inspect.signature(method).parameters) == list(expected.parameters)[1:]
        assert method.__doc__ == template.__doc__
        result = await method(1, "two", key=3)
        assert result == (name, (1, "two"), {"key": 3})
        assert recorder.calls[-1] == (store_name, name)
    assert len(recorder.calls) == len(protocol_methods(protocol))


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_wrapper_has_nothing_but_protocol_methods(protocol):
    wrapped = wrap_store(fake_store(protocol), protocol, Recorder())
    public = {name for name in dir(wrapped) if not name.startswith("_")}
    assert public == set(protocol_methods(protocol)) | {"wrapped"}
    with pytest.raises(AttributeError):
        wrapped.not_a_store_method  # noqa: B018  (no __getattr__ forwarding)


def test_store_names():
    assert [store_name_of(p) for p in PROTOCOLS] == [
        "shard",
        "execution",
        "history",
        "task",
        "metadata",
        "cluster_metadata",
        "queue",
        "nexus_endpoint",
        "task_scavenger",
        "visibility",
    ]


def test_a_store_missing_methods_is_refused():
    class Partial:
        async def get_or_create_shard(self, shard_id, create=None):
            return None

    with pytest.raises(TypeError, match="update_shard"):
        wrap_store(Partial(), ShardStore, Recorder())


async def test_errors_pass_through_unchanged():
    class Failing:
        async def get_or_create_shard(self, shard_id, create=None):
            raise Unavailable("down")

        async def update_shard(self, *args):
            return None

    wrapped = wrap_store(Failing(), ShardStore, Recorder())
    with pytest.raises(Unavailable, match="down"):
        await wrapped.get_or_create_shard(1)


async def test_chain_runs_outermost_first():
    log: list[str] = []
    chain = InterceptorChain([Recorder("a", log), Recorder("b", log), Recorder("c", log)])
    wrapped = wrap_store(fake_store(ShardStore), ShardStore, chain)
    await wrapped.update_shard(1, 2, None, 1)
    assert log == ["a>", "b>", "c>", "<c", "<b", "<a"]


class BindingRecorder(Recorder):
    """A Recorder that also binds ahead of the calls, counting how often it is bound."""

    def __init__(self, label: str, log: list[str]) -> None:
        super().__init__(label, log)
        self.bound: list[tuple[str, str]] = []

    def bind(self, store: str, method: str, inner: Any) -> Any:
        self.bound.append((store, method))

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            return await self(store, method, lambda: inner(*args, **kwargs))

        return recorded


async def test_binding_and_plain_interceptors_stack_in_one_order():
    log: list[str] = []
    binding = BindingRecorder("a", log)
    chain = InterceptorChain([binding, Recorder("b", log), BindingRecorder("c", log)])
    wrapped = wrap_store(fake_store(ShardStore), ShardStore, chain)
    for _ in range(3):
        log.clear()
        assert await wrapped.update_shard(1, 2, None, 1) == ("update_shard", (1, 2, None, 1), {})
        assert log == ["a>", "b>", "c>", "<c", "<b", "<a"]
    # Bound once per method when the wrapper was built, not per call.
    assert sorted(binding.bound) == [("shard", name) for name in protocol_methods(ShardStore)]
