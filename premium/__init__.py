"""Premium service offers. Arrives with the premium issue."""
