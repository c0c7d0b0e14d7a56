"""Health Auto Export's JSON format: the one place that knows it, both ways.

``document`` splits a body into its metrics, workouts and other sections (undecoded slices),
``items`` turns their items into typed rows (``ingest.rows``) and reports the bad ones, and
``render`` writes stored data back in the format (``GET /v1/export?format=hae``). Nothing here
touches a table: ``ingest.writers`` stores the rows, ``metrics.export`` reads them back.
"""
