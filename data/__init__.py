"""The shipped label lists, installed as the package ``wordtree.data``: read them with ``wordtree.builder.data_dir()``.

This file makes ``data/`` a regular package: setuptools' editable finder only imports a package mapped by
``[tool.setuptools.package-dir]`` when it has an ``__init__.py``.
"""
