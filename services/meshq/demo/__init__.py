"""`meshq demo`: the whole stack embedded, a real job flow, and a results table."""
