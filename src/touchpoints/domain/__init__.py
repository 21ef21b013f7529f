"""The pure domain: touch-point lifecycle, scheduling, settings, visibility, digest and reports."""
