"""The pure domain: touch-point lifecycle, scheduling, settings and visibility rules."""
