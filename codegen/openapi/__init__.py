"""OpenAPI code generator: load a Swagger 2.0 / OpenAPI 3.0 / 3.1 document, build a typed IR, emit
a package of msgspec models.

Pipeline: ``load`` (files, ``$ref``s, version, 2.0 -> 3.0 shape) -> ``parse`` (document -> ``ir``)
-> ``models`` / ``plan`` / ``clients`` / ``stubs`` (IR -> per-file data) -> ``render`` (data ->
text, through the Jinja templates in ``templates/``) -> ``generate`` (package on disk,
ruff-formatted). Nothing in this package performs network I/O or executes code from the document.
"""
