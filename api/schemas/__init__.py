"""Request and response bodies of the HTTP API, one module per resource as in `api/routes/`.

Routes declare no models of their own: a client (and OpenAPI) finds every body here.
"""
