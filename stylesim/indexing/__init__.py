"""Indexing runs: plan what changed, read and decode, encode, write the journal, commit."""

from stylesim.indexing.local import index_collection
from stylesim.indexing.plan import IndexReport, plan_changes

__all__ = ["IndexReport", "index_collection", "plan_changes"]
