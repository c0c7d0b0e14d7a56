"""Plain helpers shared by every app: no models, and no import of any app of ours.

Apps import from here; nothing here imports an app (checked by ``make lint``'s import contracts).
"""
