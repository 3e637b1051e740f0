"""The shipped label lists (package ``wordtree.data``): read them with ``wordtree.builder.data_dir()``."""
