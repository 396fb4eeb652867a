"""Retrieval evaluation: metrics over labelled collections."""
