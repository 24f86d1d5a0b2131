"""Which aliases tasks attached assets to: what a condition on an alias is decided from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.state.db.models import AssetAlias, AssetAliasAsset


def aliases_of(session: Session, asset_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """The names of the aliases each asset is attached to, sorted (assets with none left out)."""
    found: dict[int, list[str]] = defaultdict(list)
    ids = sorted(set(asset_ids))
    if ids:
        rows = session.execute(
            select(AssetAliasAsset.asset_id, AssetAlias.name)
            .join(AssetAlias, AssetAlias.id == AssetAliasAsset.alias_id)
            .where(AssetAliasAsset.asset_id.in_(ids))
        )
        for asset_id, name in rows:
            found[asset_id].append(name)
    return {asset_id: tuple(sorted(names)) for asset_id, names in found.items()}
