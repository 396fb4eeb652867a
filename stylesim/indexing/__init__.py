"""Indexing runs: plan what changed, read and decode, encode, write the journal, commit.

Engines: ``local`` (this machine, ``indexing.local``) and ``ray`` (a Ray cluster,
``indexing.ray_engine``: imported where it is used, so that Ray stays an optional extra); what
both share is in ``indexing.run``."""

from stylesim.indexing.local import index_collection
from stylesim.indexing.plan import IndexReport, plan_changes

__all__ = ["IndexReport", "index_collection", "plan_changes"]
