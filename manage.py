#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthexport.settings")
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except OperationalError as exc:
        # An unreachable database is a configuration problem for the operator: one line, not a traceback.
        sys.exit(f"healthexport: cannot use the database: {str(exc).strip().splitlines()[0]}")


if __name__ == "__main__":
    main()
