"""Real authorization servers for the end-to-end suite, each behind one interface (base.py)."""
