"""Reading videos and sampling frames. Imports common.core."""
