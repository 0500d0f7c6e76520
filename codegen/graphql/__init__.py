"""The GraphQL generator: a schema (SDL or introspection JSON) plus operation documents in, a
typed package out (result Structs per operation, input types and tolerant enums, a sync and an
async client, typed resolver stubs). load -> validate -> selection IR (selection.py) -> per-file
data -> the Jinja templates in ``templates/graphql/``, written all-or-nothing by the OpenAPI
generator's writer."""
