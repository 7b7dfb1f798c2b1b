"""SQL only: one interface (base.py), the SQL both backends share (the modules beside it) and
one adapter per backend (sqlite/, postgres/). `open_database` picks the adapter by URL."""
