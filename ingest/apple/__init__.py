"""Apple Health's own "Export All Health Data" archive (export.zip): the one home of that format.

``archive`` opens the upload safely and finds export.xml, ``parse`` streams it into plain
records, ``mapping`` turns HealthKit identifiers into our metric names and units, ``load``
writes the rows through the same writers as POST /v1/ingest (the only module that calls them),
``services`` runs an import from start to end, resumably.
"""
