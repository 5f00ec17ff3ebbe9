# Ported from basetenlabs/truss truss-chains/tests/itest_chain/user_package/nested_package/__init__.py (MIT License, (c) Baseten), import changed.
