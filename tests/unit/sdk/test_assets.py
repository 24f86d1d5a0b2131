"""Assets, aliases, references and conditions: Airflow 3's semantics and the proto contract."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from protos.dag.v1 import message_pb2 as dag_pb2
from tradewind.sdk.assets import (
    Asset,
    AssetAlias,
    AssetAll,
    AssetAny,
    AssetNameRef,
    AssetUriRef,
    AssetWatcher,
    BaseAsset,
    Dataset,
    Metadata,
    Model,
    asset_from_message,
    asset_message,
    condition_from_message,
    condition_message,
    normalise_schedule_assets,
    task_asset_from_message,
    task_asset_message,
)
from tradewind.sdk.triggers.base import BaseEventTrigger, TriggerEvent
from tradewind.sdk.triggers.file import FileTrigger


class _FileTrigger(BaseEventTrigger):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("tests.unit.sdk.test_assets._FileTrigger", {"path": self.path})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent({"path": self.path})


# Construction and defaults


def test_a_uri_alone_names_the_asset() -> None:
    asset = Asset("s3://bucket/file.csv")
    assert asset.name == "s3://bucket/file.csv"
    assert asset.uri == "s3://bucket/file.csv"
    assert asset.group == "asset"
    assert asset.extra == {}
    assert asset.watchers == []


def test_a_name_alone_is_also_the_uri() -> None:
    asset = Asset(name="daily_report")
    assert asset.uri == "daily_report"


def test_a_uri_by_keyword_is_also_the_name() -> None:
    assert Asset(uri="s3://bucket/file.csv").name == "s3://bucket/file.csv"


def test_name_and_uri_are_kept_apart() -> None:
    asset = Asset("users", "postgres://db/public/users", group="tables", extra={"rows": 3})
    assert (asset.name, asset.uri, asset.group, asset.extra) == (
        "users",
        "postgres://db/public/users",
        "tables",
        {"rows": 3},
    )


def test_a_uri_may_be_a_path_object() -> None:
    asset = Asset(uri=os.path.join("data", "x.csv"))
    assert asset.uri == os.path.join("data", "x.csv")


def test_neither_name_nor_uri_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="requires either 'name' or 'uri'"):
        Asset()


def test_the_subclasses_default_their_group() -> None:
    assert Dataset("s3://b/d").group == "dataset"
    assert Model("m").group == "model"
    assert Dataset("s3://b/d", group="custom").group == "custom"
    assert isinstance(Dataset("d"), Asset)


def test_extra_none_is_an_empty_dict() -> None:
    assert Asset("a", extra=None).extra == {}


def test_an_asset_is_path_like() -> None:
    asset = Asset("file:///tmp/data.csv")
    assert isinstance(asset, os.PathLike)
    assert os.fspath(asset) == "file:///tmp/data.csv"


def test_the_repr_shows_the_fields() -> None:
    assert repr(Dataset("d")) == "Dataset(name='d', uri='d', group='dataset', extra={})"


# URI normalisation


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("S3://bucket/key", "s3://bucket/key"),
        ("s3://bucket/dir/", "s3://bucket/dir"),
        ("s3://bucket/dir///", "s3://bucket/dir"),
        ("s3://bucket", "s3://bucket/"),
        ("s3://bucket/key#part", "s3://bucket/key"),
        ("s3://bucket/key?b=2&a=1", "s3://bucket/key?a=1&b=2"),
        ("file:///tmp/data.csv", "file:///tmp/data.csv"),
        ("s3://Bucket/Key", "s3://Bucket/Key"),
        ("s3://user@bucket/key", "s3://user@bucket/key"),
    ],
)
def test_a_uri_is_normalised(uri: str, expected: str) -> None:
    assert Asset(uri).uri == expected


def test_the_name_keeps_the_uri_as_given() -> None:
    asset = Asset("S3://bucket/dir/")
    assert asset.name == "S3://bucket/dir/"
    assert asset.uri == "s3://bucket/dir"


@pytest.mark.parametrize("uri", ["my_asset", "some/relative/path/", "x-custom://A/B/?z=1#f"])
def test_what_is_no_uri_or_a_private_scheme_is_untouched(uri: str) -> None:
    assert Asset(uri).uri == uri


def test_a_password_is_dropped_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="should not contain a password"):
        asset = Asset("s3://user:secret@bucket/key")
    assert asset.uri == "s3://bucket/key"
    assert asset.name == "s3://user:secret@bucket/key"


def test_the_airflow_scheme_is_reserved() -> None:
    with pytest.raises(ValueError, match="Asset scheme 'airflow' is reserved"):
        Asset("airflow://dag/task")
    with pytest.raises(ValueError, match="reserved"):
        Asset("AIRFLOW://dag/task")


# Identifier validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "Asset name cannot be empty"),
        ({"name": "   "}, "Asset name cannot be just whitespace"),
        ({"name": "x" * 1501}, "Asset name cannot exceed 1500 characters"),
        ({"name": 42}, "Asset name must be a string"),
        ({"name": "self"}, "prohibited name for asset: self"),
        ({"name": "context"}, "prohibited name for asset: context"),
        ({"name": "ok", "uri": "  "}, "Asset uri cannot be just whitespace"),
        ({"name": "ok", "group": " "}, "Asset group cannot be just whitespace"),
        ({"name": "ok", "group": 1}, "Asset group must be a string"),
    ],
)
def test_bad_identifiers_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Asset(**kwargs)


def test_the_error_names_the_subclass() -> None:
    with pytest.raises(ValueError, match="Dataset name cannot be empty"):
        Dataset("")


def test_a_name_of_1500_characters_is_fine() -> None:
    assert len(Asset("x" * 1500).name) == 1500


def test_an_empty_group_is_allowed() -> None:
    assert Asset("a", group="").group == ""


# Equality and hashing


def test_assets_are_equal_on_name_uri_group_and_extra() -> None:
    assert Asset("s3://bucket/file.csv") == Asset(
        name="s3://bucket/file.csv", uri="S3://bucket/file.csv/"
    )
    assert Asset("a", extra={"k": 1}) != Asset("a")
    assert Asset("a", group="g") != Asset("a")
    assert Asset("a", "u1") != Asset("a", "u2")
    assert Asset("a") != "a"


def test_a_subclass_compares_on_asset_fields_only() -> None:
    class Table(Asset):
        def __init__(self, name: str, *, schema: str) -> None:
            super().__init__(name)
            self.schema = schema

    assert Table("users", schema="public") == Table("users", schema="staging")
    assert Dataset("d") != Asset("d")
    assert Dataset("d") == Asset("d", group="dataset")


def test_assets_hash_by_name_and_uri() -> None:
    assert hash(Asset("a", extra={"k": [1]})) == hash(Asset("a"))
    assert len({Asset("a"), Asset("a"), Asset("b")}) == 2


def test_alias_and_references_are_hashable_values() -> None:
    assert AssetAlias("out") == AssetAlias("out")
    assert AssetAlias("out") != AssetAlias("out", group="other")
    assert len({AssetAlias("out"), AssetAlias("out")}) == 1
    assert {Asset.ref(name="n"), Asset.ref(name="n"), Asset.ref(uri="n")} == {
        AssetNameRef("n"),
        AssetUriRef("n"),
    }


# References


def test_ref_by_name_or_by_uri() -> None:
    assert Asset.ref(name="users") == AssetNameRef("users")
    assert Asset.ref(uri="s3://bucket/file.csv") == AssetUriRef("s3://bucket/file.csv")


def test_ref_takes_exactly_one_key() -> None:
    with pytest.raises(TypeError, match="either name or URI, not both"):
        Asset.ref(name="a", uri="b")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="expects keyword argument 'name' or 'uri'"):
        Asset.ref()  # type: ignore[call-overload]


def test_a_reference_is_frozen() -> None:
    ref = Asset.ref(name="a")
    with pytest.raises(AttributeError):
        ref.name = "b"  # type: ignore[misc]


def test_a_uri_reference_is_not_normalised() -> None:
    assert Asset.ref(uri="S3://bucket/").uri == "S3://bucket/"


# Aliases


def test_an_alias_has_a_default_group() -> None:
    alias = AssetAlias("partitions")
    assert alias.group == "asset"
    assert AssetAlias("p", group="g").group == "g"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "AssetAlias name cannot be empty"),
        (" ", "AssetAlias name cannot be just whitespace"),
        (None, "AssetAlias name must be a string"),
    ],
)
def test_an_alias_needs_a_name(name: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AssetAlias(name)


# Conditions


def test_or_and_and_build_conditions() -> None:
    a, b, c = Asset("a"), Asset("b"), Asset("c")
    schedule = (a & b) | c
    assert schedule == AssetAny(AssetAll(a, b), c)
    assert isinstance(a | AssetAlias("x"), AssetAny)
    assert isinstance(Asset.ref(name="r") & a, AssetAll)


def test_chains_of_one_operator_flatten_from_the_left() -> None:
    a, b, c = Asset("a"), Asset("b"), Asset("c")
    assert a | b | c == AssetAny(a, b, c)
    assert a & b & c == AssetAll(a, b, c)
    assert a | (b | c) == AssetAny(a, AssetAny(b, c))
    assert (a & b) & (b & c) == AssetAll(a, b, AssetAll(b, c))


def test_a_condition_only_combines_asset_expressions() -> None:
    with pytest.raises(TypeError, match="expect asset expressions in condition"):
        AssetAll(Asset("a"), "b")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expect asset expressions in condition"):
        AssetAny(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Asset("a") | "b"  # type: ignore[operator]


def test_conditions_compare_and_hash_by_their_parts() -> None:
    a, b = Asset("a"), Asset("b")
    assert AssetAll(a, b) == AssetAll(a, b)
    assert AssetAll(a, b) != AssetAll(b, a)
    assert AssetAll(a, b) != AssetAny(a, b)
    assert hash(AssetAny(a, b)) == hash(AssetAny(a, b))


def test_the_repr_of_a_condition() -> None:
    assert repr(AssetAll(AssetAlias("x"), Asset.ref(name="n"))) == (
        "AssetAll(AssetAlias(name='x', group='asset'), AssetNameRef(name='n'))"
    )


def test_iteration_finds_every_kind_in_order() -> None:
    a, b = Asset("a"), Asset("b")
    alias = AssetAlias("x")
    ref = Asset.ref(uri="s3://b/r")
    condition = (a & alias) | (ref & b) | AssetAlias("y")
    assert list(condition.iter_assets()) == [a, b]
    assert list(condition.iter_asset_aliases()) == [alias, AssetAlias("y")]
    assert list(condition.iter_asset_refs()) == [ref]
    assert list(a.iter_assets()) == [a]
    assert list(a.iter_asset_aliases()) == []
    assert list(alias.iter_assets()) == []
    assert list(ref.iter_asset_refs()) == [ref]


def test_the_base_class_iterates_nothing_it_does_not_know() -> None:
    with pytest.raises(NotImplementedError):
        list(BaseAsset().iter_assets())


# Watchers and metadata


def test_a_watcher_keeps_its_trigger() -> None:
    trigger = _FileTrigger("/data/in")
    asset = Asset("file:///data/in", watchers=[AssetWatcher(name="inbox", trigger=trigger)])
    assert asset.watchers[0].name == "inbox"
    assert asset.watchers[0].trigger is trigger
    with pytest.raises(ValueError, match="must inherit BaseEventTrigger"):
        AssetWatcher(name="plain", trigger=FileTrigger("/data/in"))  # not an event trigger


def test_metadata_defaults() -> None:
    asset = Asset("s3://bucket/file.csv")
    metadata = Metadata(asset, {"rows": 10})
    assert (metadata.asset, metadata.extra, metadata.alias) == (asset, {"rows": 10}, None)
    assert Metadata(asset).extra == {}
    assert Metadata(asset, extra=None).extra == {}  # type: ignore[arg-type]


# Schedules


def test_a_list_of_assets_means_all_of_them() -> None:
    a, b = Asset("a"), AssetAlias("b")
    ref = Asset.ref(name="c")
    assert normalise_schedule_assets([a, b, ref]) == AssetAll(a, b, ref)
    assert normalise_schedule_assets((a,)) == AssetAll(a)


def test_a_set_of_assets_is_put_in_a_stable_order() -> None:
    a, b, c = Asset("a"), Asset("b"), Asset("c")
    assert normalise_schedule_assets({c, a, b}) == AssetAll(a, b, c)


def test_a_condition_is_the_schedule_itself() -> None:
    condition = (Asset("a") & Asset("b")) | Asset("c")
    assert normalise_schedule_assets(condition) is condition
    single = Asset("a")
    assert normalise_schedule_assets(single) is single


def test_an_empty_list_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"schedule=\[\] names no asset.*schedule=None"):
        normalise_schedule_assets([])


@pytest.mark.parametrize("schedule", ["@daily", 5, None, {"a": Asset("a")}])
def test_what_names_no_assets_is_a_type_error(schedule: object) -> None:
    with pytest.raises(TypeError, match="an asset schedule is"):
        normalise_schedule_assets(schedule)


def test_a_list_with_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"should be either assets.*not str"):
        normalise_schedule_assets([Asset("a"), "b"])


# Proto messages


def test_an_asset_message() -> None:
    message = asset_message(Asset("users", "s3://b/u", extra={"z": 1, "a": [1, 2]}))
    assert message == dag_pb2.Asset(
        name="users", uri="s3://b/u", group="asset", extra_json='{"a":[1,2],"z":1}'
    )
    assert asset_message(Model("m")).group == "model"
    assert asset_message(Asset("e")).extra_json == "{}"


def test_an_extra_that_is_not_json_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="is not JSON"):
        asset_message(Asset("a", extra={"when": object()}))


def test_an_asset_message_round_trips() -> None:
    asset = Dataset("users", "s3://b/u", extra={"owner": "ops", "n": 1.5})
    back = asset_from_message(asset_message(asset))
    assert back == asset
    assert type(back) is Asset
    assert asset_from_message(dag_pb2.Asset(name="n", uri="u", group="asset")).extra == {}


def test_a_condition_message_has_the_shape_of_the_condition() -> None:
    a, b, c = Asset("a"), Asset("b"), AssetAlias("c")
    message = condition_message((a & b) | c)
    assert message.WhichOneof("kind") == "any"
    first, second = message.any.parts
    assert first.WhichOneof("kind") == "all"
    assert [p.asset.name for p in first.all.parts] == ["a", "b"]
    assert second.alias == dag_pb2.AssetAlias(name="c", group="asset")
    assert condition_message(Asset.ref(name="n")).reference.name == "n"
    assert condition_message(Asset.ref(uri="s3://x/")).reference.WhichOneof("key") == "uri"


def test_a_condition_round_trips_through_bytes() -> None:
    a = Asset("s3://bucket/file.csv", extra={"k": "v"})
    condition = ((a & Asset.ref(name="n")) | AssetAlias("x", group="g")) | (
        Asset.ref(uri="s3://bucket/other") & Model("m")
    )
    data = condition_message(condition).SerializeToString()
    back = condition_from_message(dag_pb2.AssetCondition.FromString(data))
    assert back == condition
    assert list(back.iter_assets()) == [a, Model("m")]


def test_an_unknown_condition_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot serialise BaseAsset"):
        condition_message(BaseAsset())
    with pytest.raises(ValueError, match="needs an asset, alias, reference, all or any"):
        condition_from_message(dag_pb2.AssetCondition())
    with pytest.raises(ValueError, match="needs a name or a uri"):
        condition_from_message(dag_pb2.AssetCondition(reference=dag_pb2.AssetReference()))


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        (Asset("s3://bucket/file.csv"), "asset"),
        (AssetAlias("out"), "alias"),
        (Asset.ref(name="users"), "reference"),
        (Asset.ref(uri="s3://bucket/users"), "reference"),
    ],
)
def test_a_task_asset_round_trips(obj: Asset | AssetAlias | AssetNameRef, kind: str) -> None:
    message = task_asset_message(obj)
    assert message.WhichOneof("kind") == kind
    assert task_asset_from_message(message) == obj


def test_a_task_asset_is_no_condition() -> None:
    with pytest.raises(TypeError, match=r"inlets and outlets are Asset, .* not AssetAll"):
        task_asset_message(Asset("a") & Asset("b"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not str"):
        task_asset_message("s3://bucket")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs an asset, alias or reference"):
        task_asset_from_message(dag_pb2.TaskAsset())
