"""Tools around the pipeline, not part of it: the demo data generator (``tools.demo``)."""
