"""bench/pbt.py's helpers: Nestor's pbt/pb2 studies over real processes, and Ray Tune's PBT as the peer."""
