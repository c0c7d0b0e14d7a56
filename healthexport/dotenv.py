"""The optional ``.env`` file in the project root: it fills in what the environment leaves unset.

Read by the settings, by gunicorn's config (which runs before Django) and by ``scripts/run.sh``
(``python -m healthexport.dotenv`` prints it as shell exports), so all three see one configuration.
``DOTENV_PATH`` names another file, or none when empty: the test targets set it empty so a
developer's ``.env`` cannot change what the tests run against.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import environ

DEFAULT_PATH = Path(__file__).resolve().parent.parent / ".env"


def read_dotenv() -> dict[str, str]:
    """Add the file's variables to ``os.environ``, never replacing one already set; return those added."""
    path = os.environ.get("DOTENV_PATH", str(DEFAULT_PATH))
    if not path or not os.path.isfile(path):
        return {}
    before = set(os.environ)
    environ.Env.read_env(path)
    return {name: os.environ[name] for name in os.environ.keys() - before}


if __name__ == "__main__":
    for name, value in sorted(read_dotenv().items()):
        print(f"export {name}={shlex.quote(value)}")
