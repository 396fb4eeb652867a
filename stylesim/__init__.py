"""stylesim: find images that *look* alike (style) separately from images that *show* the same
thing (content), using VGG19 statistics stored in FAISS indexes.

Pipeline (one package per stage, imports point down the list):
``collection`` (files -> decoded images) -> ``encoding`` (VGG19 activations) ->
``descriptors`` (activations -> vectors) -> ``index`` (FAISS + parquet storage, search).
``api`` ties them together; ``cli`` and ``output`` face the user.
"""

__version__ = "0.1.0"
