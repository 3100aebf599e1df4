"""The stages 00-07 as library functions: each module builds its stage's parser (``build_parser``) and runs it
(``main``), for the numbered scripts and the console commands of ``pyproject.toml``. Imports everything below,
and stage 00 the demo maker ``tools.demo``.
"""
