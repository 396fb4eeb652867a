"""stylesim: find images that *look* alike (style) separately from images that *show* the same
thing (content), using VGG19 statistics stored in FAISS indexes.

Data flows one way: ``collection`` yields decoded pictures -> ``encoding`` runs VGG19 once per
picture to the deepest layer needed -> ``descriptors`` make vectors -> ``index`` stores and
searches them. ``indexing`` conducts that flow as resumable runs; ``transfer`` restyles
pictures beside it; ``api`` composes them; ``cli``, ``server`` and ``evaluation`` stand on the
API. Imports point down ``LAYERS`` (``tests/test_code_shape.py`` checks every import): a module
may import its own package and any layer below its own, never one above or beside it.
"""

__version__ = "0.2.0"

# Top to bottom. Packages on one line are peers and do not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("server", "evaluation", "output"),  # faces of the API: HTTP, benchmarks, terminal formats
    ("api",),  # the Python API: index, search, restyle, info, training
    ("indexing", "transfer"),  # indexing runs (plan, read, encode, write); style transfer
    ("report",),  # HTML contact sheets
    ("index",),  # the store (manifest, journal, generations, lock) and search with its policy
    ("descriptors",),  # activations -> vectors, collection standardisation
    ("encoding",),  # VGG19, weight sources, preprocessing, device and precision
    ("collection",),  # files in: walk, decode, input geometry, video sampling, time codes
    ("errors",),  # user-facing exceptions, used everywhere
)
