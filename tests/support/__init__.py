"""Code the tests share: image and photo makers, catalogs, services, API checks.

Fixtures live in `tests/conftest.py` (and a folder's own `conftest.py` for fixtures only its
tests use); the helpers they and the tests call live here, so no test imports another test
module or a conftest.
"""
