"""Options shared by several sub-commands."""

from pathlib import Path
from typing import Annotated

import typer

from loraswarm.paths import DEFAULT_STATE_DIR

StateDir = Annotated[
    Path,
    typer.Option("--state-dir", help="Where started chains and deployment files are recorded."),
]
STATE_DIR_DEFAULT = DEFAULT_STATE_DIR
