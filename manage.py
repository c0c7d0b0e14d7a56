#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthexport.settings")
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    # Audit events written by the command (and by anything typed into `shell`) name it and the
    # operating-system user: see audit/context.py.
    from audit.context import command_line

    try:
        with command_line(sys.argv[1] if len(sys.argv) > 1 else "help"):
            execute_from_command_line(sys.argv)
    except OperationalError as exc:
        # An unreachable database is a configuration problem for the operator: one line, not a traceback.
        sys.exit(f"healthexport: cannot use the database: {str(exc).strip().splitlines()[0]}")


if __name__ == "__main__":
    main()
