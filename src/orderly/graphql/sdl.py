"""Print the schema as SDL: ``python -m orderly.graphql.sdl > schema.graphql``."""

from __future__ import annotations

import sys

from orderly.graphql.schema import build_schema


def sdl() -> str:
    return build_schema().as_str() + "\n"


if __name__ == "__main__":
    sys.stdout.write(sdl())
